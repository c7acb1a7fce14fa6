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
import type { RequestContext } from "../proxy/context.ts";
import { plain, ProxyError } from "../proxy/errors.ts";
import { handle, type RequestRecord } from "../proxy/handle.ts";
import { matchRoute } from "../proxy/route.ts";
import type { ProxyState } from "../state/proxy-state.ts";

export interface HttpDeps {
  readonly current: () => Snapshot;
  readonly state: ProxyState;
  readonly log: () => Logger;
  readonly scheme: "http" | "https";
}

export type FetchHandler = (req: Request, server: Server<unknown>) => Promise<Response>;

export function createFetchHandler(deps: HttpDeps): FetchHandler {
  const { state, scheme } = deps;

  return async function proxyFetch(req: Request, server: Server<unknown>): Promise<Response> {
    const snapshot = deps.current();
    const started = performance.now();
    const id = state.requestId();
    const record: RequestRecord = { route: "none", upstream: null, streaming: false };
    const peer = normalizeIp(server.requestIP(req)?.address ?? "");
    const authority = req.headers.get("host") ?? "";
    const { path, query } = splitTarget(req.url);
    state.inFlight++;

    let clientIp = peer;
    let status = 500;
    let bytes = 0;
    let failure: unknown = null;
    let waitingForBody = false;
    let keepAliveOff = false;

    const complete = (finalBytes: number, error: Error | null) => {
      if (keepAliveOff) server.timeout(req, snapshot.limits.keepAliveTimeoutSecs);
      logEndpoint(deps.log(), snapshot, {
        id, req, scheme, authority, path, status, started, clientIp, bytes: finalBytes, record, error: failure ?? error,
      });
    };

    let response: Response;
    try {
      const host = authority === "" ? "" : hostFromAuthority(authority);
      if (host === null) throw new ProxyError(400, "client", `malformed Host header ${JSON.stringify(authority.slice(0, 100))}`);
      clientIp = resolveClientIp(peer, req.headers, snapshot.trustedProxies);
      const ctx: RequestContext = { req, snapshot, scheme, peer, clientIp, authority, host, path, query, id };

      const early = answerAtTheDoor(ctx, state);
      if (early) {
        response = early;
      } else {
        // The idle timer must not cut a request waiting on a slow upstream (SPEC §5.10):
        // request_timeout governs until headers, then the body streams without a limit.
        server.timeout(req, 0);
        keepAliveOff = true;
        response = await handle(ctx, state, record, {
          signal: req.signal,
          onBodyEnd: (n, err) => {
            if (waitingForBody) complete(n, err);
            else bytes = n;
          },
        });
        waitingForBody = record.streaming;
      }
    } catch (err) {
      failure = err instanceof ProxyError ? null : err;
      response = errorResponse(err, req.method, id, deps.log());
    } finally {
      state.inFlight--;
    }
    status = response.status;
    if (!waitingForBody) {
      if (bytes === 0 && !record.streaming) bytes = bodySize(response, req.method);
      complete(bytes, null);
    }
    return response;
  };
}

/** SPEC §5.2 steps 5–9: what is answered before routing, in this order. */
function answerAtTheDoor(ctx: RequestContext, state: ProxyState): Response | null {
  const { snapshot, req } = ctx;
  const limits = snapshot.limits;
  if (limits.maxInFlight !== null && state.inFlight > limits.maxInFlight) {
    return plain(503, req.method, "Service Unavailable", { "retry-after": "1" });
  }
  const health = snapshot.settings.health;
  if (health.enabled) {
    if (ctx.path === health.liveness_path) return plain(200, req.method, "OK");
    if (ctx.path === health.readiness_path) return state.shuttingDown ? plain(503, req.method, "Shutting down") : plain(200, req.method, "OK");
  }
  if (ctx.scheme === "http" && snapshot.settings.tls.force_https) {
    if (!matchRoute(snapshot.routes, ctx.host, ctx.path)) return plain(400, req.method);
    const port = snapshot.settings.server.https_port;
    const host = ctx.host.includes(":") ? `[${ctx.host}]` : ctx.host;
    const location = `https://${host}${port === 443 ? "" : `:${port}`}${ctx.path}${ctx.query ? `?${ctx.query}` : ""}`;
    return new Response(null, { status: 308, headers: { location } });
  }
  return null;
}

function errorResponse(err: unknown, method: string, id: string, log: Logger): Response {
  if (err instanceof ProxyError) {
    if (err.status >= 500) log.warn({ req_id: id, err: err.message }, "proxy error");
    return plain(err.status, method, err.body);
  }
  log.error({ req_id: id, err }, "unexpected error while handling a request");
  return plain(500, method);
}

/** Path and query of the request URL; Bun gives an absolute URL with dot segments removed. */
export function splitTarget(url: string): { path: string; query: string } {
  let start = 0;
  if (url.charCodeAt(0) !== 47 /* / */) {
    const scheme = url.indexOf("://");
    start = scheme < 0 ? 0 : url.indexOf("/", scheme + 3);
    if (start < 0) return { path: "/", query: "" };
  }
  const q = url.indexOf("?", start);
  return q < 0 ? { path: url.slice(start), query: "" } : { path: url.slice(start, q), query: url.slice(q + 1) };
}

function bodySize(res: Response, method: string): number {
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
function logEndpoint(log: Logger, snapshot: Snapshot, e: EndpointEntry): void {
  if (!snapshot.settings.logging.log_endpoints) return;
  const fields: Record<string, unknown> = {
    layer: "endpoint",
    req_id: e.id,
    method: e.req.method,
    scheme: e.scheme,
    host: e.authority,
    path: e.path,
    elapsed_ms: Math.round(performance.now() - e.started),
    client_ip: e.clientIp,
    bytes: e.bytes,
    upstream: e.record.upstream,
    route: e.record.route,
  };
  if (e.error) {
    fields.error = e.error instanceof Error ? e.error.message : String(e.error);
    log.info(fields, "endpoint request failed");
  } else {
    fields.status = e.status;
    log.info(fields, "endpoint request");
  }
}
