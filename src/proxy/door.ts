/**
 * The door (SPEC §5.2 steps 3–9): the facts about the request worked out once, then what the proxy
 * answers before routing: CONNECT, `OPTIONS *`, the global rate limit, the in-flight limits,
 * metrics, health probes and force_https. Reads only the compiled snapshot (no config.toml keys).
 */
import { hostFromAuthority } from "../lib/net.ts";
import type { ProxyState } from "../state/proxy-state.ts";
import { clientKey } from "../state/limiter.ts";
import { resolveClientIp } from "./client-ip.ts";
import { plain, ProxyError } from "./errors.ts";
import type { Flight } from "./flight.ts";
import { normalizePath } from "./normalize-path.ts";
import { rateLimit } from "./rate-limit.ts";
import { matchRoute } from "./route.ts";

/** Works out the routed host, the client IP and the normalised path; a malformed one is a 400. */
export function admit(flight: Flight): void {
  const host = flight.authority === "" ? "" : hostFromAuthority(flight.authority);
  if (host === null) throw new ProxyError(400, "client", `malformed Host header ${JSON.stringify(flight.authority.slice(0, 100))}`);
  flight.host = host;
  const snapshot = flight.snapshot;
  if (snapshot.trustedProxies.size > 0) flight.clientIp = resolveClientIp(flight.peer, flight.req.headers, snapshot.trustedProxies);
  // `OPTIONS *` (asterisk-form, RFC 9112 §3.2.4) is about the server itself: answered at the door.
  if (flight.path === "*" && flight.req.method === "OPTIONS") return;
  const path = normalizePath(flight.path, snapshot.limits.allowEncodedSlashes);
  if (path === null)
    throw new ProxyError(400, "client", `refused path ${JSON.stringify(flight.path.slice(0, 200))}: encoded slash, \`..;\` segment or bad escape (SPEC §5.3)`);
  // Tomcat, Jetty and Spring read `/auth;x=1/x` as `/auth/x`: a `;` parameter must not move a
  // request to another rule (or out of one with auth). Same rule either way: forwarded as sent.
  if (path.includes(";") && matchRoute(snapshot.routes, host, path)?.route !== matchRoute(snapshot.routes, host, withoutParameters(path))?.route) {
    throw new ProxyError(400, "client", `refused path ${JSON.stringify(path.slice(0, 200))}: its ';' parameters change which rule applies (SPEC §5.3)`);
  }
  flight.path = path;
}

/** The path as a servlet container reads it: every segment's `;` parameters removed. */
function withoutParameters(path: string): string {
  return path.replace(PARAMETERS, "");
}

const PARAMETERS = /;[^/]*/g;

/** SPEC §5.2 steps 4–5: CONNECT is refused, `OPTIONS *` answered, then the global rate limit takes its token. */
export function limitAtTheDoor(flight: Flight, state: ProxyState): Response | null | Promise<Response | null> {
  const method = flight.req.method;
  // Not a forward proxy: CONNECT (authority-form) is never passed on.
  if (method === "CONNECT") return plain(400, method);
  if (flight.path === "*") return internal(flight, new Response(null, { status: 200, headers: OPTIONS_HEADERS }));
  const spec = flight.snapshot.rateLimit;
  if (spec === null) return null;
  return rateLimit(flight, state.limiter.global, spec);
}

const OPTIONS_HEADERS = { allow: "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS", "content-length": "0" };

/** SPEC §5.2 steps 6–9: what is answered before routing, in this order. */
export function answerAtTheDoor(flight: Flight, state: ProxyState): Response | Promise<Response> | null {
  const { snapshot, req } = flight;
  const method = req.method;
  const limits = snapshot.limits;
  if (limits.maxInFlight !== null && state.inFlight > limits.maxInFlight) {
    return plain(503, method, "Service Unavailable", RETRY_SOON);
  }
  // One client (an HTTP/2 connection's streams included) cannot fill the proxy (issue 20).
  const key = clientKey(flight.clientIp);
  if (!state.clientFlights.enter(key, limits.maxInFlightPerClient)) {
    flight.door.log().info({ req_id: flight.id, client_ip: flight.clientIp, max: limits.maxInFlightPerClient }, "request refused: max_in_flight_per_client");
    return plain(429, method, "Too many requests in flight", RETRY_SOON);
  }
  flight.clientKey = key;
  const door = snapshot.door;
  const path = flight.path;
  if (path === door.metricsPath && internalHost(flight)) {
    flight.internal = true;
    // The peer, not the forwarded client IP: a forwarding header must not open the page (SPEC §5.5).
    if (!snapshot.metricsAllow.has(flight.peer)) return plain(403, method, "Forbidden");
    const page = state.metricsPage();
    return typeof page === "string" ? metricsResponse(method, page) : page.then((text) => metricsResponse(method, text));
  }
  if (path === door.livenessPath && internalHost(flight)) return internal(flight, plain(200, method, "OK"));
  if (path === door.readinessPath && internalHost(flight))
    return internal(flight, state.shuttingDown ? plain(503, method, "Shutting down") : plain(200, method, "OK"));
  if (door.forceHttpsPort !== null && flight.scheme === "http") {
    // Only to a host a domain or domain_path rule or an app names: a `default` rule would
    // otherwise send visitors to https on whatever name they were given (issue 20).
    if (!claimedHost(flight)) return plain(421, method);
    const port = door.forceHttpsPort;
    const host = flight.host.includes(":") ? `[${flight.host}]` : flight.host;
    const location = `https://${host}${port === 443 ? "" : `:${port}`}${path}${flight.query ? `?${flight.query}` : ""}`;
    return new Response(null, { status: 308, headers: { location } });
  }
  return null;
}

const RETRY_SOON = { "retry-after": "1" };

/** A host a domain or domain_path rule or an app names (SPEC §5.3). */
function claimedHost(flight: Flight): boolean {
  const routes = flight.snapshot.routes;
  return routes.domain.has(flight.host) || routes.domainPath.has(flight.host) || routes.apps.has(flight.host);
}

/**
 * Whether the proxy answers metrics and probes for this host itself (SPEC §5.2 steps 6–7): hosts
 * no domain rule or app claims (probes by IP address, unknown names), or `metrics.host`. An app's
 * own `/metrics` and `/health/*` stay reachable on its host. Runs only for those paths.
 */
function internalHost(flight: Flight): boolean {
  const metricsHost = flight.snapshot.door.metricsHost;
  return (metricsHost !== null && flight.host === metricsHost) || !claimedHost(flight);
}

function metricsResponse(method: string, text: string): Response {
  return new Response(method === "HEAD" ? null : text, {
    headers: { "content-type": "text/plain; version=0.0.4", "content-length": String(Buffer.byteLength(text)) },
  });
}

function internal(flight: Flight, response: Response): Response {
  flight.internal = true;
  return response;
}
