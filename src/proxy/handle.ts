/**
 * The request path after the door (ARCHITECTURE §4): route → guard → pick → forward → respond.
 * Each phase is a function in its own file; a phase that answers early returns a Response.
 */
import type { AuthGrant, Route, Upstream } from "../config/snapshot.ts";
import { clientKey, type RateDecision } from "../state/limiter.ts";
import type { Breakers } from "../state/breakers.ts";
import type { ProxyState } from "../state/proxy-state.ts";
import { UpstreamError, type ExchangeControl } from "../upstream/exchange.ts";
import type { RequestContext } from "./context.ts";
import { plain, ProxyError } from "./errors.ts";
import { forward, upstreamFailure, type ForwardOptions } from "./forward.ts";
import { guard } from "./guard.ts";
import { pickTarget, type Available } from "./pick.ts";
import { rateLimit } from "./rate-limit.ts";
import { redirect } from "./redirect.ts";
import { respond } from "./respond.ts";
import { matchRoute, type RouteMatch } from "./route.ts";
import { upstreamTarget } from "./url.ts";
import { isWebSocketUpgrade, tunnelRequest, type TunnelRequest } from "./websocket.ts";

/** What the door records about a request for its log line and metrics. */
export interface RequestRecord {
  route: string;
  upstream: string | null;
  /** Set when the response body streams: the record completes when it ends. */
  streaming: boolean;
  /** The tightest rate-limit bucket the request passed, for the RateLimit-* headers (SPEC §8). */
  rate: RateDecision | null;
  /** Slot port of a managed-app target (per-app metrics), 0 for rules. */
  appPort: number;
  /** The origin whose breaker awaits the end of the streamed body to learn this request's outcome. */
  pendingBreaker: string | null;
}

export interface HandleHooks {
  /** Called when the response body ends, with the bytes relayed. */
  onBodyEnd(bytes: number, error: Error | null): void;
  /** Filled in by the upstream exchange so the door can cancel it when the client leaves. */
  readonly control: ExchangeControl | null;
  /**
   * Opens a WebSocket tunnel (SPEC §5.8): resolves undefined once the client got its 101, or the
   * error answer when the backend did not accept.
   */
  upgrade(request: TunnelRequest): Promise<Response | undefined>;
}

export type HandleResult = Response | Promise<Response> | Promise<Response | undefined>;

/**
 * Answers the request: a Response when a phase answers early, else the promise of the upstream's
 * answer (undefined for a WebSocket the client was upgraded to). Kept free of `await`: every hop
 * between the exchange and Bun.serve costs time.
 */
export function handle(ctx: RequestContext, state: ProxyState, record: RequestRecord, hooks: HandleHooks): HandleResult {
  // 1. route
  const match = matchRoute(ctx.snapshot.routes, ctx.host, ctx.path);
  if (!match) throw new ProxyError(421, "client", `no rule matches ${ctx.host || "(no host)"}${ctx.path}`);
  const route = match.route;
  record.route = route.key;
  // A known app with no serving slot (stopped, starting, failed): its host is served by no one
  // right now, which is a 503 to retry, not a 421 (SPEC §14.9). Only app routes have no target.
  if (route.targets.length === 0) return plain(503, ctx.req.method, "Service Unavailable", APP_RETRY_AFTER);

  // The rule's own bucket, after the global one (SPEC §3.6); before auth, so it also caps guessing.
  if (route.rateLimit !== null) {
    const refused = rateLimit(state.limiter, state.limiter.rule(route.key), route.rateLimit, ctx.clientIp, ctx.req.method, record);
    if (refused instanceof Promise) return refused.then((r) => r ?? guarded(ctx, state, record, hooks, match));
    if (refused) return refused;
  }
  return guarded(ctx, state, record, hooks, match);
}

/** 2. guard, then on to phases 3–5. */
function guarded(ctx: RequestContext, state: ProxyState, record: RequestRecord, hooks: HandleHooks, match: RouteMatch): HandleResult {
  const route = match.route;
  if (route.auth === null) return proceed(ctx, state, record, hooks, match, null);
  const verdict = guard(ctx.req, route.auth, state, clientKey(ctx.clientIp));
  if (verdict instanceof Promise) return verdict.then((v) => (v instanceof Response ? v : proceed(ctx, state, record, hooks, match, v)));
  if (verdict instanceof Response) return verdict;
  return proceed(ctx, state, record, hooks, match, verdict);
}

const always: Available = () => true;
const APP_RETRY_AFTER = { "retry-after": "5" };

/** Phases 3–5 for a request that may go on; `grant` carries what authentication adds upstream. */
function proceed(ctx: RequestContext, state: ProxyState, record: RequestRecord, hooks: HandleHooks, match: RouteMatch, grant: AuthGrant | null): HandleResult {
  const route = match.route;

  // 3. pick: load balancing over the targets whose circuit breaker grants a request (SPEC §6)
  const breakers = state.breakers;
  const counter = route.targets.length > 1 ? state.rotation.next(route.key) : 0;
  const index = pickTarget(route, counter, route.redirect ? always : hasBody(ctx.req) ? breakers.availableWithBody : breakers.available);
  if (index < 0) throw new ProxyError(503, "upstream", `no available target for ${route.key}: every circuit breaker is open`);
  const target = route.targets[index]!;
  if (route.redirect) return redirect(ctx, route, target, match.groups);
  const ticket = breakers.granted;
  record.upstream = target.origin;
  if (route.app !== null) record.appPort = target.port;

  const headers = {
    extraHeaders: grant?.headers,
    dropHeaders: (grant !== null ? grant.drop : ctx.snapshot.claimHeaders) ?? undefined,
  };
  if (isWebSocketUpgrade(ctx.req)) {
    // Selected like HTTP, but WebSocket outcomes are not reported (SPEC §6.2): give the grant back.
    breakers.release(target.origin, ticket);
    return hooks.upgrade(tunnelRequest(ctx, route, target, match.groups, headers));
  }
  if (target.scheme === "ws" || target.scheme === "wss") {
    breakers.release(target.origin, ticket);
    throw new ProxyError(502, "client", `${route.key} only accepts WebSocket upgrades (target ${target.url})`);
  }

  // 4. forward, 5. respond
  const options: ForwardOptions = {
    pool: state.pool,
    watch: state.watch,
    control: hooks.control,
    onBodyEnd: (n: number, err: Error | null) => {
      settleStream(breakers, record, err);
      hooks.onBodyEnd(n, err);
    },
    ...headers,
  };
  return attempt(ctx, state, record, route, match.groups, target, ticket, options, retryable(ctx.req) ? { counter, index } : null);
}

/**
 * One exchange with `target`, its outcome reported to the target's breaker. When `retry` is given
 * and the connection failed before any byte was written, the request goes once more to the next
 * available target (SPEC §6.1).
 */
function attempt(
  ctx: RequestContext,
  state: ProxyState,
  record: RequestRecord,
  route: Route,
  groups: RegExpExecArray | null,
  target: Upstream,
  ticket: number,
  options: ForwardOptions,
  retry: { counter: number; index: number } | null,
): Promise<Response> {
  const breakers = state.breakers;
  const path = upstreamTarget(route, target, ctx.path, ctx.query, groups);
  let exchange;
  try {
    exchange = forward(ctx, route, target, path, options);
  } catch (err) {
    breakers.release(target.origin, ticket);
    throw err;
  }
  return exchange.then(
    (upstream) => {
      record.streaming = upstream.body instanceof ReadableStream;
      // A streamed body can still break off, a transport failure (SPEC §6.2). In the closed state
      // its outcome waits for the end of the body, so a backend that always fails mid-body opens
      // its breaker; a half_open probe is settled by the head, or its permit would be held for as
      // long as the stream lasts.
      if (record.streaming && ticket === 0 && !breakers.isFailureStatus(upstream.status)) record.pendingBreaker = target.origin;
      else breakers.reportStatus(target.origin, ticket, upstream.status);
      return respond(ctx, route, upstream);
    },
    (err) => {
      // SPEC §14.8 request failover: the app's process did not take the connection.
      if (route.app !== null && err instanceof UpstreamError && (err.kind === "connect" || err.kind === "reset")) state.appFailover?.(route.app, target.port);
      if (!(err instanceof UpstreamError) || !err.upstreamFault) {
        // Not the upstream's fault (SPEC §6.2: body-limit 413s, a client that stalled its body or
        // left, a wait for a free connection are not reported); a probe permit is given back.
        breakers.release(target.origin, ticket);
        throw upstreamFailure(err, target, ctx.req.method, ctx.path);
      }
      breakers.report(target.origin, ticket, false);
      if (retry !== null && err.kind === "connect" && !err.written) {
        const next = pickTarget(route, retry.counter, breakers.available, retry.index);
        if (next >= 0) {
          const other = route.targets[next]!;
          record.upstream = other.origin;
          return attempt(ctx, state, record, route, groups, other, breakers.granted, options, null);
        }
      }
      throw upstreamFailure(err, target, ctx.req.method, ctx.path);
    },
  );
}

/**
 * The end of a streamed upstream body as a breaker outcome: cut off by the upstream (reset, closed
 * early, broken chunking) is a failure; a clean end settles a pending success; a client that left
 * says nothing about the upstream.
 */
function settleStream(breakers: Breakers, record: RequestRecord, err: Error | null): void {
  const upstreamFault = err instanceof UpstreamError && err.kind !== "aborted" && err.kind !== "too_large";
  const origin = record.pendingBreaker ?? (upstreamFault ? record.upstream : null);
  record.pendingBreaker = null;
  if (origin === null) return;
  if (upstreamFault) breakers.report(origin, 0, false);
  else if (err === null) breakers.report(origin, 0, true);
}

/** A request body still to be read from the client. */
function hasBody(req: Request): boolean {
  return req.body !== null && req.headers.get("content-length") !== "0";
}

/** Idempotent for a retry (SPEC §6.1): GET, HEAD, OPTIONS, or any method with no body. */
function retryable(req: Request): boolean {
  const m = req.method;
  return m === "GET" || m === "HEAD" || m === "OPTIONS" || req.body === null || req.headers.get("content-length") === "0";
}
