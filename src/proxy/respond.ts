/**
 * Phase 5: the upstream's answer as the client's Response (SPEC §5.7): hop-by-hop headers
 * removed, everything else relayed as sent, prefix mounts' redirects kept under the mount, HSTS
 * on HTTPS.
 */
import type { Route } from "../config/snapshot.ts";
import { parseContentLength } from "../lib/content-length.ts";
import { connectionTokens, HOP_BY_HOP } from "../lib/headers.ts";
import type { InboundResponse } from "../upstream/exchange.ts";
import type { Flight } from "./flight.ts";
import { htmlToRewrite, rewriteHtml } from "./rewrite.ts";
import { wholeBody } from "./whole-body.ts";

/** Phase 5: a Response, or (a body read whole first to keep its Content-Length) the promise of one. */
export function respond(ctx: Flight, route: Route, upstream: InboundResponse): Response | Promise<Response> {
  const headers = new Headers();
  let contentLength: string | null = null;
  const named = upstream.connection === null ? null : connectionTokens(upstream.connection);
  const mounted = route.kind === "prefix" || route.kind === "domain_path";
  const redirect = upstream.status >= 300 && upstream.status < 400;
  const fields = upstream.headers;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (HOP_BY_HOP.has(name) || name === "te") continue;
    if (named !== null && named.length > 0 && named.includes(name)) continue;
    if (mounted && redirect && name === "location") {
      headers.append(name, mountLocation(value, route.value));
      continue;
    }
    if (name === "content-length") contentLength = value;
    headers.append(name, value);
  }
  if (ctx.scheme === "https" && ctx.snapshot.hsts !== null) headers.set("strict-transport-security", ctx.snapshot.hsts);
  // Draining (shutdown or a hitless upgrade, SPEC §15.4/§15.5): the client must not send its next
  // request on this connection, which closes once the answer is out; it connects anew instead and
  // reaches the new listener, rather than racing the close with a reused keep-alive connection.
  if (ctx.state.shuttingDown) headers.set("connection", "close");
  // A HEAD answer keeps the upstream's Content-Length; Bun would otherwise send 0.
  let body = ctx.req.method === "HEAD" ? null : upstream.body;
  if (mounted && body !== null) {
    const html = htmlToRewrite(headers, upstream.status);
    if (html) return rewriteHtml(new Response(body, { status: upstream.status, headers }), route.value.slice(0, -1), html.decode);
  }
  // A custom reason phrase costs Bun extra work per response; pass it only when it is not the standard one.
  const init: ResponseInit =
    upstream.statusText === "" || upstream.statusText === STANDARD_REASONS[upstream.status]
      ? { status: upstream.status, headers }
      : { status: upstream.status, statusText: upstream.statusText, headers };
  const keepLengthUpTo = ctx.snapshot.limits.bufferResponseMax;
  if (body instanceof Uint8Array) {
    if (body.length > Math.max(keepLengthUpTo, BYTES_BODY_LIMIT)) body = oneChunk(body);
  } else if (body !== null && contentLength !== null) {
    const length = parseContentLength(contentLength);
    if (length !== null && length <= keepLengthUpTo) {
      return wholeBody(body, length).then((whole) => new Response(whole, init));
    }
  }
  return new Response(body, init);
}

/**
 * Bodies above this size and above limits.buffer_response_max (whose bodies keep their length:
 * whole-body.ts) are handed to Bun.serve as a one-chunk stream rather than as bytes. A
 * response resolved after the handler returned (every proxied one) with a byte body larger than
 * Bun's 16 KiB write buffer is sent in many small writes: measured at 145 CPU-µs and 6.9k req/s for
 * 16 KiB, against 29 µs and 34k req/s as a stream (bench/compare.ts body100k shows the same).
 * Below it, bytes are cheaper (18 µs vs 22 µs at 4 KiB).
 */
const BYTES_BODY_LIMIT = 12 * 1024;

function oneChunk(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}

/** `/login` under the mount `/api/` becomes `/api/login`; absolute and `//host` URLs are left alone. */
export function mountLocation(location: string, mount: string): string {
  if (!location.startsWith("/") || location.startsWith("//")) return location;
  return mount.slice(0, -1) + location;
}

const STANDARD_REASONS: Readonly<Record<number, string>> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Payload Too Large",
  422: "Unprocessable Entity",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};
