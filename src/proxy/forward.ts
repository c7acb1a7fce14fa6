/**
 * Phase 4: the request sent upstream (SPEC §5.6) and what came of the exchange: the head goes on
 * to phase 5, a failure to the breaker and maybe a retry. Header lines are built in one pass over
 * the client's headers; the body streams with the size limit.
 */
import { HeaderVar, type HeaderRule, type Route, type Upstream } from "../config/snapshot.ts";
import { connectionTokens, HOP_BY_HOP } from "../lib/headers.ts";
import { UpstreamError, type InboundResponse } from "../upstream/exchange.ts";
import { ProxyError } from "./errors.ts";
import type { Flight } from "./flight.ts";
import { pickTarget } from "./pick.ts";
import { respond } from "./respond.ts";
import { upstreamTarget } from "./url.ts";

/**
 * Forwarding headers the proxy does not write but frameworks trust to build URLs (Spring, ASP.NET,
 * Express read X-Forwarded-Port and -Prefix): only a trusted peer's pass (SPEC §5.6 step 3).
 */
const TRUSTED_ONLY = ["x-forwarded-port", "x-forwarded-prefix"] as const;

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
  ...TRUSTED_ONLY,
  "host",
  "content-length",
  "expect",
  "x-auth-subject",
]);

/** The target the request goes to, and its breaker ticket: the first pick, or the retry's. */
export function aim(flight: Flight, target: Upstream, ticket: number): void {
  flight.upstream = target;
  flight.ticket = ticket;
}

/**
 * Sends the request to the flight's upstream through the state's transport (SPEC §5.2 step 16);
 * the flight receives the head, a failure and the body's end.
 */
export function forward(flight: Flight, route: Route): void {
  const req = flight.req;
  const target = flight.upstream!;
  const limits = flight.snapshot.limits;
  const bodyLength = declaredLength(flight.fields["content-length"] ?? null);
  if (bodyLength !== null && limits.maxRequestSize !== null && bodyLength > limits.maxRequestSize) {
    throw new ProxyError(413, "client", `request body of ${bodyLength} bytes exceeds max_request_size`);
  }
  const hasBody = req.body !== null && bodyLength !== 0;
  const state = flight.state;
  state.transport.start(
    target.endpoint,
    {
      method: req.method,
      target: upstreamTarget(route, target, flight),
      headers: upstreamHeaders(flight, route, target),
      body: hasBody ? req.body : null,
      bodyLength: hasBody ? bodyLength : bodyLength === 0 ? 0 : null,
      maxBodySize: limits.maxRequestSize,
      maxConnections: limits.maxUpstreamConnections,
      clientSignal: hasBody && bodyLength === null ? req.signal : undefined,
      watch: state.watch,
      timeoutMs: limits.requestTimeoutMs,
    },
    flight,
  );
}

/**
 * The response head arrived: its outcome goes to the target's breaker, then phase 5 makes the
 * client's answer. A streamed body can still break off, a transport failure (SPEC §6.2): in the
 * closed state its outcome waits for the end of the body, so a backend that always fails mid-body
 * opens its breaker; a half_open probe is settled by the head, or its permit would be held for as
 * long as the stream lasts.
 */
export function attempted(flight: Flight, upstream: InboundResponse): Response | Promise<Response> {
  const breakers = flight.state.breakers;
  const origin = flight.upstream!.origin;
  const streams = upstream.body instanceof ReadableStream;
  const awaitsBody = streams && flight.ticket === 0 && !breakers.isFailureStatus(upstream.status);
  if (!awaitsBody) breakers.reportStatus(origin, flight.ticket, upstream.status);
  let response: Response | Promise<Response>;
  try {
    response = respond(flight, flight.route!, upstream);
  } catch (err) {
    // No answer will read the body: the upstream connection is let go.
    if (streams) (upstream.body as ReadableStream).cancel().catch(() => {});
    throw err;
  }
  flight.breakerAwaitsBody = awaitsBody;
  flight.streaming = streams;
  return response;
}

/**
 * No response head. The failure goes to the breaker when it is the upstream's; a connection that
 * failed before any byte was written sends the request once more to the next available target
 * (SPEC §6.1): null then, and that exchange answers. Otherwise throws the client's answer.
 */
export function failedAttempt(flight: Flight, err: unknown): null {
  const state = flight.state;
  const route = flight.route!;
  const target = flight.upstream!;
  const breakers = state.breakers;
  // SPEC §14.8 request failover: the app's process did not take the connection.
  if (route.app !== null && err instanceof UpstreamError && (err.kind === "connect" || err.kind === "reset")) state.appFailover?.(route.app, target.port);
  if (!(err instanceof UpstreamError) || !err.upstreamFault) {
    // Not the upstream's fault (SPEC §6.2: body-limit 413s, a client that stalled its body or
    // left, a wait for a free connection are not reported); a probe permit is given back.
    breakers.release(target.origin, flight.ticket);
    throw upstreamFailure(err, target, flight.req.method, flight.path);
  }
  breakers.report(target.origin, flight.ticket, false);
  // Once: a retry goes to another target than the first pick's.
  if (flight.retryCounter >= 0 && err.kind === "connect" && !err.written && flight.upstream === route.targets[flight.retrySkip]) {
    const next = pickTarget(route, flight.retryCounter, breakers.grantFor, flight.retrySkip);
    if (next !== null) {
      aim(flight, route.targets[next.index]!, next.ticket);
      forward(flight, route);
      return null;
    }
  }
  throw upstreamFailure(err, target, flight.req.method, flight.path);
}

/**
 * The end of a relayed body as a breaker outcome: cut off by the upstream (reset, closed early,
 * broken chunking) is a failure; a clean end settles a success the head left pending; a client
 * that left says nothing about the upstream.
 */
export function bodyEnded(flight: Flight, err: Error | null): void {
  const upstream = flight.upstream;
  if (upstream === null) return;
  const upstreamFault = err instanceof UpstreamError && err.kind !== "aborted" && err.kind !== "too_large";
  if (upstreamFault) flight.state.breakers.report(upstream.origin, 0, false);
  else if (err === null && flight.breakerAwaitsBody) flight.state.breakers.report(upstream.origin, 0, true);
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
      return new ProxyError(413, "client", `request body exceeds max_request_size (${method} ${path})`, { cause: err });
    case "timeout":
      // The client stalled its own upload: its fault, answered 408 (RFC 9110 §15.5.9).
      if (err.clientBodyPending)
        return new ProxyError(408, "client", `client did not finish sending its body before request_timeout (${method} ${path})`, { cause: err });
      return new ProxyError(504, "upstream", `${where}: ${err.message}`, { cause: err });
    case "aborted":
      return new ProxyError(499, "client", `client went away (${method} ${path})`, { body: "", cause: err });
    default:
      return new ProxyError(502, "upstream", `${where}: ${err.message}`, { cause: err });
  }
}

/**
 * SPEC §5.6 steps 1–6, as header lines. Runs once per proxied request: one pass, and the lines are
 * gathered in one reused array and joined once (each `+=` would allocate a string of its own).
 */
export function upstreamHeaders(ctx: Flight, route: Route, target: Upstream): string {
  // Every header at once (the flight's toJSON()); iterating Headers costs a native call per entry.
  const all = ctx.fields;
  const trusted = ctx.snapshot.trustedProxies.size > 0 && ctx.snapshot.trustedProxies.has(ctx.peer);
  const connection = all.connection;
  const named = connection === undefined ? null : connectionTokens(connection);
  const blockNames = route.headerNames;
  const grant = ctx.grant;
  // Auth drops its own header names; without a grant, the claim headers (SPEC §5.6 step 4).
  const drop = (grant !== null ? grant.drop : ctx.snapshot.claimHeaders) ?? undefined;
  const out = LINES;
  out.length = 0;
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
      if (value.trim().toLowerCase() === "trailers") out.push("te: trailers\r\n");
      continue;
    }
    if (name === "origin" && target.secure) {
      origin = value;
      continue;
    }
    out.push(name, ": ", value, "\r\n");
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
    for (const name of TRUSTED_ONLY) {
      const value = all[name];
      if (value !== undefined && !blockNames.has(name)) out.push(name, ": ", value, "\r\n");
    }
  } else {
    forwardedFor = ctx.clientIp;
    proto = ctx.scheme;
    forwardedHost = ctx.authority;
  }
  // Host and Origin (step 5, SPEC §3.4): TLS targets see their own name.
  const host = target.secure ? target.authority : ctx.authority !== "" ? ctx.authority : target.authority;
  // A headers {} block replaces any of these (step 6 comes after the proxy's own headers).
  const all5 = blockNames.size === 0;
  if (all5 || !blockNames.has("x-forwarded-for")) out.push("x-forwarded-for: ", forwardedFor, "\r\n");
  if (all5 || !blockNames.has("x-forwarded-proto")) out.push("x-forwarded-proto: ", proto, "\r\n");
  if (forwardedHost !== "" && (all5 || !blockNames.has("x-forwarded-host"))) out.push("x-forwarded-host: ", forwardedHost, "\r\n");
  if (all5 || !blockNames.has("x-real-ip")) out.push("x-real-ip: ", ctx.clientIp, "\r\n");
  if (all5 || !blockNames.has("host")) out.push("host: ", host, "\r\n");
  if (origin !== null && !blockNames.has("origin")) out.push("origin: ", sameHostOrigin(origin, ctx.host) ? `https://${target.authority}` : origin, "\r\n");

  if (grant !== null && grant.headers) out.push(grant.headers);

  // headers {} blocks (step 6), global then rule, already merged per route.
  for (const rule of route.headers) {
    if (rule.value === null) continue;
    out.push(rule.name, ": ", renderHeader(rule, ctx), "\r\n");
  }
  const text = out.join("");
  out.length = 0;
  return text;
}

/** upstreamHeaders()'s scratch list, reused: the function never runs twice at once. */
const LINES: string[] = [];

/** A name the proxy sets or strips itself (SPEC §5.6 steps 1, 3, 4 and 6). */
function ownedName(name: string, blockNames: ReadonlySet<string>, drop: ReadonlySet<string> | undefined): boolean {
  return NOT_COPIED.has(name) || name === "te" || blockNames.has(name) || (drop !== undefined && drop.has(name));
}

export function renderHeader(rule: HeaderRule, ctx: Pick<Flight, "clientIp" | "scheme" | "host">): string {
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
