/**
 * The fetch entry of the proxy listeners (SPEC §5.2): pins the current snapshot once, works out
 * who is asking and for what, answers what the proxy answers itself (health probes, force_https,
 * errors), hands the rest to proxy/handle.ts, and always completes one record per request.
 */
import type { Server } from "bun";
import type { Snapshot } from "../config/snapshot.ts";
import type { Logger } from "../lib/log.ts";
import { hostFromAuthority, normalizeIp } from "../lib/net.ts";
import { resolveClientIp } from "../proxy/client-ip.ts";
import { normalizePath } from "../proxy/normalize-path.ts";
import type { RequestContext } from "../proxy/context.ts";
import { plain, ProxyError } from "../proxy/errors.ts";
import { handle, type HandleHooks, type RequestRecord } from "../proxy/handle.ts";
import { addRateHeaders, rateLimit } from "../proxy/rate-limit.ts";
import { clientKey } from "../state/limiter.ts";
import type { ProxyState } from "../state/proxy-state.ts";
import type { ChallengeTokens } from "../tls/challenge.ts";
import type { Watch, Watched } from "../state/watch.ts";
import { UpstreamError, type ExchangeControl } from "../upstream/exchange.ts";
import type { TunnelRequest } from "../proxy/websocket.ts";
import { openTunnel } from "./ws.ts";

export interface HttpDeps {
  readonly current: () => Snapshot;
  readonly state: ProxyState;
  readonly log: () => Logger;
  readonly scheme: "http" | "https";
  /** HTTP-01 tokens answered before anything else (SPEC §5.2 step 2). */
  readonly challenges?: ChallengeTokens;
}

/** Resolves undefined when the request was upgraded to a WebSocket. */
export type FetchHandler = (req: Request, server: Server<unknown>) => Response | undefined | Promise<Response | undefined>;

export function createFetchHandler(deps: HttpDeps): FetchHandler {
  const challenges = deps.challenges;
  return function proxyFetch(req: Request, server: Server<unknown>): Response | undefined | Promise<Response | undefined> {
    // ACME HTTP-01 first: never limited, redirected or authenticated (SPEC §5.2 step 2).
    const challenge = challenges?.answer(req);
    if (challenge) return challenge;
    const flight = new Flight(req, server, deps);
    const { state } = deps;
    state.inFlight++;
    try {
      const ctx = flight.context();
      // The door's rate limit may be a shared bucket (Redis or the primary): then it is a promise.
      const limited = limitAtTheDoor(ctx, state, flight.record);
      const answer =
        limited === null ? pastTheLimit(ctx, state, flight) : limited instanceof Promise ? limited.then((r) => r ?? pastTheLimit(ctx, state, flight)) : limited;
      if (answer instanceof Promise) return answer.then(flight.onResponse, flight.onError);
      return flight.onResponse(answer);
    } catch (err) {
      return flight.onError(err);
    }
  };
}

/** Requests still waiting on their upstream after this long get the slow-request treatment. */
const SLOW_AFTER_MS = 300;

/**
 * One request at the door, from arrival to its log line. Holds what the record needs and, for
 * requests handed to an upstream, the slow-request watch: most finish before the watch ever looks
 * at them; the ones that do not are "slow": Bun's idle timer must not cut them (request_timeout and
 * streaming govern instead, SPEC §5.10). A client that leaves cancels the upstream exchange from
 * the first byte (forward()): a reset HTTP/2 stream must not keep its upstream request going.
 */
class Flight implements Watched, HandleHooks {
  readonly snapshot: Snapshot;
  readonly started = performance.now();
  readonly id: string;
  readonly record: RequestRecord = { route: "none", upstream: null, streaming: false, rate: null, appPort: 0, pendingBreaker: null };
  readonly control: ExchangeControl = { exchange: null };
  private readonly peer: string;
  private readonly authority: string;
  /** The raw path until context() normalises it (SPEC §5.3). */
  private path: string;
  private readonly query: string;
  private clientIp: string;
  private status = 0;
  private bytes = -1;
  private bodyError: Error | null = null;
  private failure: unknown = null;
  /** The answer came from the proxy itself (an error), not relayed from the upstream. */
  private generated = false;
  private transportError = false;
  private waitingForBody = false;
  private watched = false;
  private slow = false;
  private completed = false;
  private upgraded = false;
  /** clientKey() of a request counted in clientFlights, until it ends. */
  private clientKey: string | null = null;

  constructor(
    private readonly req: Request,
    private readonly server: Server<unknown>,
    private readonly deps: HttpDeps,
  ) {
    this.snapshot = deps.current();
    this.id = deps.state.requestId();
    const address = server.requestIP(req);
    this.peer = normalizeIp(address?.address ?? "");
    if (deps.scheme === "https" && address) deps.state.metrics.tlsRequest(address.address, address.port);
    this.clientIp = this.peer;
    this.authority = req.headers.get("host") ?? "";
    const url = req.url;
    const { path, query } = splitTarget(url);
    this.path = path;
    this.query = query;
  }

  context(): RequestContext {
    const host = this.authority === "" ? "" : hostFromAuthority(this.authority);
    if (host === null) throw new ProxyError(400, "client", `malformed Host header ${JSON.stringify(this.authority.slice(0, 100))}`);
    this.clientIp = resolveClientIp(this.peer, this.req.headers, this.snapshot.trustedProxies);
    // `OPTIONS *` (asterisk-form, RFC 9112 §3.2.4) is about the server itself: answered at the door.
    if (this.path === "*" && this.req.method === "OPTIONS") return { req: this.req, snapshot: this.snapshot, scheme: this.deps.scheme, peer: this.peer, clientIp: this.clientIp, authority: this.authority, host, path: "*", query: "", id: this.id };
    const path = normalizePath(this.path, this.snapshot.limits.allowEncodedSlashes);
    if (path === null) throw new ProxyError(400, "client", `refused path ${JSON.stringify(this.path.slice(0, 200))}: encoded slash, \`..;\` segment or bad escape (SPEC §5.3)`);
    this.path = path;
    return { req: this.req, snapshot: this.snapshot, scheme: this.deps.scheme, peer: this.peer, clientIp: this.clientIp, authority: this.authority, host, path: this.path, query: this.query, id: this.id };
  }

  /** limits.max_in_flight_per_client: counts this request for its client, false above the limit. */
  enterClient(max: number): boolean {
    const key = clientKey(this.clientIp);
    if (!this.deps.state.clientFlights.enter(key, max)) {
      this.deps.log().info({ req_id: this.id, client_ip: this.clientIp, max }, "request refused: max_in_flight_per_client");
      return false;
    }
    this.clientKey = key;
    return true;
  }

  private leaveClient(): void {
    if (this.clientKey === null) return;
    this.deps.state.clientFlights.leave(this.clientKey);
    this.clientKey = null;
  }

  forward(ctx: RequestContext): Response | Promise<Response> | Promise<Response | undefined> {
    this.deps.state.watch.add(this);
    this.watched = true;
    // A reset HTTP/2 stream or a client that left cancels the upstream exchange at once, not
    // only once the request turned slow (issue 20: reset streams still reached the upstream).
    const signal = this.req.signal;
    if (signal.aborted) throw new ProxyError(499, "client", "client went away before the request was forwarded", "");
    signal.addEventListener("abort", this.cancel, { once: true });
    return handle(ctx, this.deps.state, this.record, this);
  }

  /** HandleHooks: the upstream body ended; for a streamed body this completes the record. */
  onBodyEnd(bytes: number, error: Error | null): void {
    if (this.waitingForBody) this.complete(bytes, error);
    else {
      this.bytes = bytes;
      this.bodyError = error;
    }
  }

  /** HandleHooks: a WebSocket upgrade; the record completes when the tunnel ends. */
  upgrade(request: TunnelRequest): Promise<Response | undefined> {
    const { state } = this.deps;
    return openTunnel(this.req, this.server, request, { watch: state.watch, tunnels: state.tunnels, log: this.deps.log(), control: this.control, onEnd: (bytes, err) => this.onBodyEnd(bytes, err) });
  }

  readonly onResponse = <R extends Response | undefined>(response: R): R => {
    this.deps.state.inFlight--;
    if (response === undefined) {
      // Upgraded (SPEC §10: WebSocket upgrades record 101); Bun's HTTP timers no longer apply.
      this.status = 101;
      this.upgraded = true;
      // A tunnel is a connection, not a request in flight.
      this.leaveClient();
      this.waitingForBody = true;
      this.deps.state.watch.delete(this);
      return response;
    }
    this.status = response.status;
    if (this.record.rate !== null) addRateHeaders(response, this.record.rate);
    // A body read whole before the answer (proxy/whole-body.ts) has ended already, streamed or not.
    if (this.record.streaming && this.bytes < 0) this.waitingForBody = true;
    else this.complete(this.bytes >= 0 ? this.bytes : plainSize(response, this.req.method), this.bodyError);
    return response;
  };

  readonly onError = (err: unknown): Response => {
    if (!(err instanceof ProxyError)) this.failure = err;
    this.generated = true;
    this.transportError = err instanceof ProxyError && err.source === "upstream" && this.record.upstream !== null && (err.status === 502 || err.status === 504);
    this.record.streaming = false;
    return this.onResponse(errorResponse(err, this.req.method, this.id, this.deps.log()));
  };

  tick(now: number): void {
    if (this.slow || now - this.started < SLOW_AFTER_MS) return;
    this.slow = true;
    this.server.timeout(this.req, 0);
  }

  private readonly cancel = (): void => this.control.exchange?.abort();

  private complete(bytes: number, error: Error | null): void {
    if (this.completed) return;
    this.completed = true;
    this.leaveClient();
    if (this.watched) this.deps.state.watch.delete(this);
    if (this.slow && !this.upgraded) this.server.timeout(this.req, this.snapshot.limits.keepAliveTimeoutSecs);
    const seconds = (performance.now() - this.started) / 1000;
    const upstream = this.record.upstream;
    this.deps.state.metrics.record({
      route: this.record.route,
      upstream,
      status: this.status,
      seconds,
      bytesIn: upstream === null ? 0 : (this.control.requestBytes ?? declaredLength(this.req)),
      bytesOut: bytes,
      relayed: upstream !== null && !this.generated,
      transportError: this.transportError,
    });
    // A WebSocket tunnel that ended in failure counts as a proxy error (SPEC §10).
    if (this.upgraded && error !== null) this.deps.state.metrics.tunnelFailed();
    if (this.record.appPort !== 0) this.recordAppTraffic(bytes);
    // A body the upstream cut off is its failure, like a 502: logged even without endpoint lines.
    if (error instanceof UpstreamError && error.kind !== "aborted" && error.kind !== "too_large") {
      this.deps.log().warn({ req_id: this.id, upstream, err: error.message }, "upstream response cut off");
    }
    if (!this.snapshot.settings.logging.log_endpoints) return;
    logEndpoint(this.deps.log(), {
      id: this.id,
      req: this.req,
      scheme: this.deps.scheme,
      authority: this.authority,
      path: this.path,
      status: this.status,
      started: this.started,
      clientIp: this.clientIp,
      bytes,
      record: this.record,
      error: this.failure ?? error,
    });
  }

  /** Per-app metrics (SPEC §10): attributed by the slot port the request went to. */
  private recordAppTraffic(bytesSent: number): void {
    const declared = this.req.headers.get("content-length");
    this.deps.state.appMetrics.record(this.record.appPort, this.status, performance.now() - this.started, declared === null ? 0 : Number(declared) || 0, bytesSent);
  }
}

/** SPEC §5.2 steps 4–5: CONNECT is refused, `OPTIONS *` answered, then the global rate limit takes its token. */
function limitAtTheDoor(ctx: RequestContext, state: ProxyState, record: RequestRecord): Response | null | Promise<Response | null> {
  const { snapshot, req } = ctx;
  // Not a forward proxy: CONNECT (authority-form) is never passed on.
  if (req.method === "CONNECT") return plain(400, req.method);
  if (ctx.path === "*") return internal(record, new Response(null, { status: 200, headers: { allow: "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS", "content-length": "0" } }));
  if (snapshot.rateLimit === null) return null;
  return rateLimit(state.limiter, state.limiter.global, snapshot.rateLimit, ctx.clientIp, req.method, record);
}

function pastTheLimit(ctx: RequestContext, state: ProxyState, flight: Flight): ReturnType<Flight["forward"]> {
  return answerAtTheDoor(ctx, state, flight) ?? flight.forward(ctx);
}

/** SPEC §5.2 steps 6–9: what is answered before routing, in this order. */
function answerAtTheDoor(ctx: RequestContext, state: ProxyState, flight: Flight): Response | Promise<Response> | null {
  const { snapshot, req } = ctx;
  const record = flight.record;
  const limits = snapshot.limits;
  if (limits.maxInFlight !== null && state.inFlight > limits.maxInFlight) {
    return plain(503, req.method, "Service Unavailable", { "retry-after": "1" });
  }
  // One client (an HTTP/2 connection's streams included) cannot fill the proxy (issue 20).
  if (!flight.enterClient(limits.maxInFlightPerClient)) {
    return plain(429, req.method, "Too many requests in flight", { "retry-after": "1" });
  }
  const { metrics, health } = snapshot.settings;
  if (metrics.enabled && ctx.path === metrics.endpoint && internalHost(snapshot, ctx.host)) {
    record.route = "internal";
    // The peer, not the forwarded client IP: a forwarding header must not open the page (SPEC §5.5).
    if (!snapshot.metricsAllow.has(ctx.peer)) return plain(403, req.method, "Forbidden");
    const page = state.metricsPage();
    return typeof page === "string" ? metricsResponse(req.method, page) : page.then((text) => metricsResponse(req.method, text));
  }
  if (health.enabled && (ctx.path === health.liveness_path || ctx.path === health.readiness_path) && internalHost(snapshot, ctx.host)) {
    if (ctx.path === health.liveness_path) return internal(record, plain(200, req.method, "OK"));
    if (ctx.path === health.readiness_path) return internal(record, state.shuttingDown ? plain(503, req.method, "Shutting down") : plain(200, req.method, "OK"));
  }
  if (ctx.scheme === "http" && snapshot.settings.tls.force_https) {
    // Only to a host a domain or domain_path rule or an app names: a `default` rule would
    // otherwise send visitors to https on whatever name they were given (issue 20).
    if (!claimedHost(snapshot, ctx.host)) return plain(421, req.method);
    const port = snapshot.settings.server.https_port;
    const host = ctx.host.includes(":") ? `[${ctx.host}]` : ctx.host;
    const location = `https://${host}${port === 443 ? "" : `:${port}`}${ctx.path}${ctx.query ? `?${ctx.query}` : ""}`;
    return new Response(null, { status: 308, headers: { location } });
  }
  return null;
}

/** A host a domain or domain_path rule or an app names (SPEC §5.3). */
function claimedHost(snapshot: Snapshot, host: string): boolean {
  const routes = snapshot.routes;
  return routes.domain.has(host) || routes.domainPath.has(host) || routes.apps.has(host);
}

/**
 * Whether the proxy answers metrics and probes for this host itself (SPEC §5.2 steps 6–7): hosts
 * no domain rule or app claims (probes by IP address, unknown names), or `metrics.host`. An app's
 * own `/metrics` and `/health/*` stay reachable on its host. Runs only for those paths.
 */
function internalHost(snapshot: Snapshot, host: string): boolean {
  const metricsHost = snapshot.settings.metrics.host;
  return (metricsHost !== undefined && host === metricsHost) || !claimedHost(snapshot, host);
}

function metricsResponse(method: string, text: string): Response {
  return new Response(method === "HEAD" ? null : text, {
    headers: { "content-type": "text/plain; version=0.0.4", "content-length": String(Buffer.byteLength(text)) },
  });
}

function internal(record: RequestRecord, response: Response): Response {
  record.route = "internal";
  return response;
}

/** The client's declared body size; a body without one is counted by the exchange instead. */
function declaredLength(req: Request): number {
  const length = req.headers.get("content-length");
  return length === null ? 0 : Number(length) || 0;
}

function errorResponse(err: unknown, method: string, id: string, log: Logger): Response {
  if (err instanceof ProxyError) {
    if (err.status >= 500) log.warn({ req_id: id, err: err.message }, "proxy error");
    // Every refusal says why (issue 20): the rule or the reason is in the message.
    else if (err.status !== 499) log.info({ req_id: id, status: err.status, reason: err.message }, "request refused");
    return plain(err.status, method, err.body);
  }
  log.error({ req_id: id, err }, "unexpected error while handling a request");
  return plain(500, method);
}

/**
 * Path and query of the request URL; Bun gives an absolute URL with dot segments removed. A
 * fragment is no part of a request target (RFC 9112 §3.2) but Bun keeps one: it is dropped, so the
 * path the rules match is the path the upstream gets (a backend resolving `/public#/../admin`
 * itself would otherwise serve another path than the one that was routed and authorized).
 */
export function splitTarget(url: string): { path: string; query: string } {
  let start = 0;
  if (url.charCodeAt(0) !== 47 /* / */) {
    const scheme = url.indexOf("://");
    start = scheme < 0 ? 0 : url.indexOf("/", scheme + 3);
    if (start < 0) return { path: "/", query: "" };
  }
  const hash = url.indexOf("#", start);
  const end = hash < 0 ? url.length : hash;
  const q = url.indexOf("?", start);
  return q < 0 || q > end ? { path: url.slice(start, end), query: "" } : { path: url.slice(start, q), query: url.slice(q + 1, end) };
}

/** Body size of a response the proxy generated itself (they all carry Content-Length). */
function plainSize(res: Response, method: string): number {
  const length = method === "HEAD" ? null : res.headers.get("content-length");
  return length === null ? 0 : Number(length);
}

interface EndpointEntry {
  id: string;
  req: Request;
  scheme: string;
  authority: string;
  path: string;
  status: number;
  started: number;
  clientIp: string;
  bytes: number;
  record: RequestRecord;
  error: unknown;
}

/** One line per request when `log_endpoints` is on (SPEC §9). */
function logEndpoint(log: Logger, e: EndpointEntry): void {
  const fields: Record<string, unknown> = {
    layer: "endpoint",
    req_id: e.id,
    method: e.req.method,
    scheme: e.scheme,
    host: e.authority,
    path: e.path,
    // `error` takes the place of `status` when handling threw (SPEC §9).
    ...(e.error ? { error: e.error instanceof Error ? e.error.message : String(e.error) } : { status: e.status }),
    elapsed_ms: Math.round(performance.now() - e.started),
    client_ip: e.clientIp,
    bytes: e.bytes,
    upstream: e.record.upstream,
    route: e.record.route,
  };
  log.info(fields, e.error ? "endpoint request failed" : "endpoint request");
}
