/**
 * Phase 4: the request sent upstream (SPEC §5.6) and the exchange itself. Header lines are built
 * in one pass over the client's headers; the body streams with the size limit.
 */
import { HeaderVar, type HeaderRule, type Route, type Upstream } from "../config/snapshot.ts";
import { connectionTokens, HOP_BY_HOP } from "../lib/headers.ts";
import { send, UpstreamError, type ExchangeControl, type InboundResponse } from "../upstream/exchange.ts";
import type { Watch } from "../state/watch.ts";
import type { UpstreamPool } from "../upstream/pool.ts";
import type { RequestContext } from "./context.ts";
import { ProxyError } from "./errors.ts";

/**
 * Client headers never copied as they are: hop-by-hop ones (step 1); the forwarding headers the
 * proxy writes itself (step 3); framing (ours), Host (set below) and identities (from auth only).
 * One set, so each client header costs one lookup.
 */
const NOT_COPIED: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP,
  "forwarded",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-real-ip",
  "host",
  "content-length",
  "expect",
  "x-auth-subject",
]);

export interface ForwardOptions {
  readonly pool: UpstreamPool;
  /** Extra header lines added by earlier phases (auth), each `name: value\r\n`. */
  readonly extraHeaders?: string;
  /** Header names earlier phases want removed (auth: the API-key header, claim headers). */
  readonly dropHeaders?: ReadonlySet<string>;
  readonly onBodyEnd?: (bytes: number, error: Error | null) => void;
  readonly control: ExchangeControl | null;
  readonly watch: Watch;
}

/** Sends the request upstream; resolves with the response head (SPEC §5.2 step 16). */
export function forward(ctx: RequestContext, route: Route, target: Upstream, upstreamPath: string, opts: ForwardOptions): Promise<InboundResponse> {
  const req = ctx.req;
  const limits = ctx.snapshot.limits;
  const bodyLength = declaredLength(req.headers.get("content-length"));
  if (bodyLength !== null && limits.maxRequestSize !== null && bodyLength > limits.maxRequestSize) {
    throw new ProxyError(413, "client", `request body of ${bodyLength} bytes exceeds max_request_size`);
  }
  const hasBody = req.body !== null && bodyLength !== 0;
  return send(opts.pool, target.endpoint, {
    method: req.method,
    target: upstreamPath,
    headers: upstreamHeaders(ctx, route, target, opts),
    body: hasBody ? req.body : null,
    bodyLength: hasBody ? bodyLength : bodyLength === 0 ? 0 : null,
    maxBodySize: limits.maxRequestSize,
    control: opts.control,
    maxConnections: limits.maxUpstreamConnections,
    clientSignal: hasBody && bodyLength === null ? req.signal : undefined,
    watch: opts.watch,
    timeoutMs: limits.requestTimeoutMs,
    onBodyEnd: opts.onBodyEnd,
  });
}

/**
 * The client's Content-Length as a number. Bun joins repeated headers with ", "; identical
 * repeats are one value (RFC 9110 §8.6), anything else is refused rather than forwarded.
 */
export function declaredLength(value: string | null): number | null {
  if (value === null) return null;
  const first = value.includes(",") ? value.split(",")[0]!.trim() : value;
  if (!/^\d{1,15}$/.test(first) || (value.includes(",") && !value.split(",").every((v) => v.trim() === first))) {
    throw new ProxyError(400, "client", `invalid Content-Length ${JSON.stringify(value.slice(0, 40))}`);
  }
  return Number(first);
}

/** An upstream failure as the answer the client gets (SPEC §5.9), with whose fault it was. */
export function upstreamFailure(err: unknown, target: Upstream, method: string, path: string): unknown {
  if (!(err instanceof UpstreamError)) return err;
  const where = `upstream ${target.origin} (${method} ${path})`;
  switch (err.kind) {
    case "too_large":
      return new ProxyError(413, "client", `request body exceeds max_request_size (${method} ${path})`, undefined, { cause: err });
    case "timeout":
      // The client stalled its own upload: its fault, answered 408 (RFC 9110 §15.5.9).
      if (err.clientBodyPending) return new ProxyError(408, "client", `client did not finish sending its body before request_timeout (${method} ${path})`, "Request Timeout", { cause: err });
      return new ProxyError(504, "upstream", `${where}: ${err.message}`, undefined, { cause: err });
    case "aborted":
      return new ProxyError(499, "client", `client went away (${method} ${path})`, "", { cause: err });
    default:
      return new ProxyError(502, "upstream", `${where}: ${err.message}`, undefined, { cause: err });
  }
}

/** SPEC §5.6 steps 1–6, as header lines. Runs once per proxied request: one pass, no arrays. */
export function upstreamHeaders(ctx: RequestContext, route: Route, target: Upstream, opts: Pick<ForwardOptions, "extraHeaders" | "dropHeaders">): string {
  // toJSON() hands over every header at once; iterating Headers costs a native call per entry.
  const all = ctx.req.headers.toJSON();
  const trusted = ctx.snapshot.trustedProxies.size > 0 && ctx.snapshot.trustedProxies.has(ctx.peer);
  const connection = all.connection;
  const named = connection === undefined ? null : connectionTokens(connection);
  const blockNames = route.headerNames;
  const drop = opts.dropHeaders;
  let out = "";
  let origin: string | null = null;

  const underscores = ctx.snapshot.limits.underscoresInHeaders;
  for (const name in all) {
    if (NOT_COPIED.has(name) || blockNames.has(name)) continue;
    if (named !== null && named.includes(name)) continue;
    if (drop !== undefined && drop.has(name)) continue;
    // CGI, WSGI and Rack read `X_Real_IP` as the `X-Real-IP` the proxy controls (CVE-2024-45614):
    // names with `_` are dropped (nginx's default), and never pass as a name the proxy owns.
    if (name.includes("_") && (!underscores || ownedName(name.replaceAll("_", "-"), blockNames, drop))) continue;
    const value = all[name]!;
    if (name === "te") {
      if (value.trim().toLowerCase() === "trailers") out += "te: trailers\r\n";
      continue;
    }
    if (name === "origin" && target.secure) {
      origin = value;
      continue;
    }
    out += `${name}: ${value}\r\n`;
  }

  // Forwarding (step 3). An untrusted peer's claims are dropped; a trusted one's are extended.
  let forwardedFor: string;
  let proto: string;
  let forwardedHost: string;
  if (trusted) {
    const xff = all["x-forwarded-for"];
    forwardedFor = xff ? `${xff}, ${ctx.peer}` : ctx.peer;
    proto = all["x-forwarded-proto"] ?? ctx.scheme;
    forwardedHost = all["x-forwarded-host"] ?? ctx.authority;
  } else {
    forwardedFor = ctx.clientIp;
    proto = ctx.scheme;
    forwardedHost = ctx.authority;
  }
  // Host and Origin (step 5, SPEC §3.4): TLS targets see their own name.
  const host = target.secure ? target.authority : ctx.authority !== "" ? ctx.authority : target.authority;
  if (blockNames.size === 0) {
    out += `x-forwarded-for: ${forwardedFor}\r\nx-forwarded-proto: ${proto}\r\n`;
    if (forwardedHost !== "") out += `x-forwarded-host: ${forwardedHost}\r\n`;
    out += `x-real-ip: ${ctx.clientIp}\r\nhost: ${host}\r\n`;
  } else {
    // A headers {} block replaces any of these (step 6 comes after the proxy's own headers).
    if (!blockNames.has("x-forwarded-for")) out += `x-forwarded-for: ${forwardedFor}\r\n`;
    if (!blockNames.has("x-forwarded-proto")) out += `x-forwarded-proto: ${proto}\r\n`;
    if (forwardedHost !== "" && !blockNames.has("x-forwarded-host")) out += `x-forwarded-host: ${forwardedHost}\r\n`;
    if (!blockNames.has("x-real-ip")) out += `x-real-ip: ${ctx.clientIp}\r\n`;
    if (!blockNames.has("host")) out += `host: ${host}\r\n`;
  }
  if (origin !== null && !blockNames.has("origin")) out += `origin: ${sameHostOrigin(origin, ctx.host) ? `https://${target.authority}` : origin}\r\n`;

  if (opts.extraHeaders) out += opts.extraHeaders;

  // headers {} blocks (step 6), global then rule, already merged per route.
  for (const rule of route.headers) {
    if (rule.value === null) continue;
    out += `${rule.name}: ${renderHeader(rule, ctx)}\r\n`;
  }
  return out;
}

/** A name the proxy sets or strips itself (SPEC §5.6 steps 1, 3, 4 and 6). */
function ownedName(name: string, blockNames: ReadonlySet<string>, drop: ReadonlySet<string> | undefined): boolean {
  return NOT_COPIED.has(name) || name === "te" || blockNames.has(name) || (drop !== undefined && drop.has(name));
}

export function renderHeader(rule: HeaderRule, ctx: Pick<RequestContext, "clientIp" | "scheme" | "host">): string {
  const v = rule.value;
  if (typeof v === "string" || v === null) return v ?? "";
  let out = "";
  for (const part of v) {
    if (typeof part === "string") out += part;
    else if (part === HeaderVar.ClientIp) out += ctx.clientIp;
    else if (part === HeaderVar.Scheme) out += ctx.scheme;
    else out += ctx.host;
  }
  return out;
}

/** An Origin whose host equals the client's Host (ports ignored, case-insensitive). */
function sameHostOrigin(origin: string, host: string): boolean {
  const start = origin.indexOf("://");
  if (start < 0) return false;
  let authority = origin.slice(start + 3);
  const slash = authority.indexOf("/");
  if (slash >= 0) authority = authority.slice(0, slash);
  let h = authority;
  if (h.startsWith("[")) h = h.slice(1, Math.max(1, h.indexOf("]")));
  else if (h.includes(":")) h = h.slice(0, h.indexOf(":"));
  return h.toLowerCase() === host;
}
