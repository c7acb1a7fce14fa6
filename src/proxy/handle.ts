/**
 * The request path after the door (ARCHITECTURE §4): route → guard → pick → forward → respond.
 * Each phase is a function in its own file; a phase that answers early returns a Response.
 */
import type { AuthGrant } from "../config/snapshot.ts";
import type { RateDecision } from "../state/limiter.ts";
import type { RequestContext } from "./context.ts";
import { ProxyError } from "./errors.ts";
import { forward, upstreamFailure } from "./forward.ts";
import { guard } from "./guard.ts";
import { pickTarget } from "./pick.ts";
import { rateLimit } from "./rate-limit.ts";
import { redirect } from "./redirect.ts";
import { respond } from "./respond.ts";
import { matchRoute, type RouteMatch } from "./route.ts";
import { upstreamTarget } from "./url.ts";
import type { ProxyState } from "../state/proxy-state.ts";
import type { ExchangeControl } from "../upstream/exchange.ts";

/** What the door records about a request for its log line and metrics. */
export interface RequestRecord {
  route: string;
  upstream: string | null;
  /** Set when the response body streams: the record completes when it ends. */
  streaming: boolean;
  /** The tightest rate-limit bucket the request passed, for the RateLimit-* headers (SPEC §8). */
  rate: RateDecision | null;
}

export interface HandleHooks {
  /** Called when the response body ends, with the bytes relayed. */
  onBodyEnd(bytes: number, error: Error | null): void;
  /** Filled in by the upstream exchange so the door can cancel it when the client leaves. */
  readonly control: ExchangeControl | null;
}

/**
 * Answers the request: a Response when a phase answers early, else the promise of the upstream's
 * answer. Kept free of `await`: every hop between the exchange and Bun.serve costs time.
 */
export function handle(ctx: RequestContext, state: ProxyState, record: RequestRecord, hooks: HandleHooks): Response | Promise<Response> {
  // 1. route
  const match = matchRoute(ctx.snapshot.routes, ctx.host, ctx.path);
  if (!match) throw new ProxyError(421, "client", `no rule matches ${ctx.host || "(no host)"}${ctx.path}`);
  const route = match.route;
  record.route = route.key;

  // The rule's own bucket, after the global one (SPEC §3.6); before auth, so it also caps guessing.
  if (route.rateLimit !== null) {
    const refused = rateLimit(state.limiter, state.limiter.rule(route.key), route.rateLimit, ctx.clientIp, ctx.req.method, record);
    if (refused) return refused;
  }

  // 2. guard
  if (route.auth === null) return proceed(ctx, state, record, hooks, match, null);
  const verdict = guard(ctx.req, route.auth, state);
  if (verdict instanceof Promise) return verdict.then((v) => (v instanceof Response ? v : proceed(ctx, state, record, hooks, match, v)));
  if (verdict instanceof Response) return verdict;
  return proceed(ctx, state, record, hooks, match, verdict);
}

/** Phases 3–5 for a request that may go on; `grant` carries what authentication adds upstream. */
function proceed(ctx: RequestContext, state: ProxyState, record: RequestRecord, hooks: HandleHooks, match: RouteMatch, grant: AuthGrant | null): Response | Promise<Response> {
  const route = match.route;

  // 3. pick
  const index = pickTarget(route, route.targets.length > 1 ? state.rotation.next(route.key) : 0, () => true);
  if (index < 0) throw new ProxyError(503, "upstream", `no available target for ${route.key}`);
  const target = route.targets[index]!;

  if (route.redirect) return redirect(ctx, route, target, match.groups);
  record.upstream = target.origin;
  if (target.scheme === "ws" || target.scheme === "wss") {
    throw new ProxyError(502, "client", `${route.key} only accepts WebSocket upgrades (target ${target.url})`);
  }

  // 4. forward, 5. respond
  const path = upstreamTarget(route, target, ctx.path, ctx.query, match.groups);
  const options = {
    pool: state.pool,
    watch: state.watch,
    control: hooks.control,
    onBodyEnd: (n: number, err: Error | null) => hooks.onBodyEnd(n, err),
    extraHeaders: grant?.headers,
    dropHeaders: (grant !== null ? grant.drop : ctx.snapshot.claimHeaders) ?? undefined,
  };
  return forward(ctx, route, target, path, options).then(
    (upstream) => {
      record.streaming = upstream.body instanceof ReadableStream;
      return respond(ctx, route, upstream);
    },
    (err) => {
      throw upstreamFailure(err, target, ctx.req.method, ctx.path);
    },
  );
}
