/**
 * The request path after the door (ARCHITECTURE §4): route → guard → pick → forward → respond.
 * Each phase is a function in its own file; a phase that answers early returns a Response.
 */
import type { RequestContext } from "./context.ts";
import { ProxyError } from "./errors.ts";
import { forward, upstreamFailure } from "./forward.ts";
import { pickTarget } from "./pick.ts";
import { redirect } from "./redirect.ts";
import { respond } from "./respond.ts";
import { matchRoute } from "./route.ts";
import { upstreamTarget } from "./url.ts";
import type { ProxyState } from "../state/proxy-state.ts";
import { UpstreamError, type ExchangeControl } from "../upstream/exchange.ts";

/** What the door records about a request for its log line and metrics. */
export interface RequestRecord {
  route: string;
  upstream: string | null;
  /** Set when the response body streams: the record completes when it ends. */
  streaming: boolean;
  /** Slot port of a managed-app target (per-app metrics), 0 for rules. */
  appPort: number;
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

  // 3. pick
  const index = pickTarget(route, route.targets.length > 1 ? state.rotation.next(route.key) : 0, () => true);
  if (index < 0) throw new ProxyError(503, "upstream", `no available target for ${route.key}`);
  const target = route.targets[index]!;

  if (route.redirect) return redirect(ctx, route, target, match.groups);
  record.upstream = target.origin;
  if (route.app !== null) record.appPort = target.port;
  if (target.scheme === "ws" || target.scheme === "wss") {
    throw new ProxyError(502, "client", `${route.key} only accepts WebSocket upgrades (target ${target.url})`);
  }

  // 4. forward, 5. respond
  const path = upstreamTarget(route, target, ctx.path, ctx.query, match.groups);
  return forward(ctx, route, target, path, { pool: state.pool, watch: state.watch, control: hooks.control, onBodyEnd: (n, err) => hooks.onBodyEnd(n, err) }).then(
    (upstream) => {
      record.streaming = upstream.body instanceof ReadableStream;
      return respond(ctx, route, upstream);
    },
    (err) => {
      // SPEC §14.8 request failover: the app's process did not take the connection.
      if (route.app !== null && err instanceof UpstreamError && (err.kind === "connect" || err.kind === "reset")) state.appFailover?.(route.app, target.port);
      throw upstreamFailure(err, target, ctx.req.method, ctx.path);
    },
  );
}
