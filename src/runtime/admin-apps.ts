/**
 * The admin API's view of managed apps (AppsProvider, src/admin/port.ts) over the supervisor's
 * AppPort (src/apps/app-port.ts): names, error shapes and the `_admin` passthrough (SPEC §11.2).
 */
import type { AppsProvider } from "../admin/port.ts";
import { AppError } from "../apps/errors.ts";
import type { AppPort } from "../apps/app-port.ts";
import { PROGRESS_PHASES } from "../apps/progress.ts";
import type { Server, ServerWebSocket } from "bun";
import type { AdminEnv, AdminSocketData } from "../admin/port.ts";
import { connectionTokens, HOP_BY_HOP } from "../lib/headers.ts";

/** Headers the `_admin` app never sees (SPEC §11.2): credentials meant for the admin API itself. */
const ADMIN_ONLY = new Set(["authorization", "proxy-authorization", "x-api-key", "host"]);
/** Forwarding headers a client may not choose (SPEC §5.6 step 3: the admin peer is not trusted). */
const FORWARDING = new Set(["forwarded", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-real-ip"]);
/** The client's handshake headers: the relay makes its own handshake with the app. */
const WS_HANDSHAKE = new Set(["sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-accept"]);

export function appsProvider(port: AppPort): AppsProvider {
  return {
    list: () => port.list(),
    get: (name) => (port.has(name) ? port.get(name) : null),
    metrics: () => port.allMetrics(),
    systemMetrics: () => port.systemMetrics(),
    appMetrics: (name) => port.metrics(name),
    deploy: (name, onProgress) => port.deploy(name, onProgress).then((r) => ({ slot: r.slot }), failure),
    restart: (name, onProgress) => port.restart(name, onProgress).then((r) => ({ slot: r.slot }), failure),
    rollback: (name, onProgress) => port.rollback(name, onProgress).then((r) => ({ slot: r.slot }), failure),
    busy: (name) => port.busy(name),
    phases: PROGRESS_PHASES,
    stop: (name) => port.stop(name).then(() => undefined, failure),
    logs: async (name) => {
      if (!port.has(name)) return null;
      const { blue, green } = port.logs(name);
      return { blue, green };
    },
    subscribe: (listener) => port.subscribe(listener),
    passthrough: (req, env) => (port.has("_admin") ? toAdminApp(port, req, env) : null),
  };
}

/**
 * The admin routes add "Deployment failed: " etc. themselves; AppError messages already carry
 * the full SPEC text, so the detail after that prefix is what goes on.
 */
function failure(err: unknown): never {
  if (err instanceof AppError) {
    throw { kind: err.kind, message: err.kind === "failed" ? err.message.replace(/^(Deployment|Restart|Rollback|Stop) failed: /, "") : err.message };
  }
  throw err;
}

/** The headers the `_admin` app gets (SPEC §11.2, §5.6): no admin credentials, forwarding set, Host as sent. */
function forwardHeaders(req: Request, peer: string | null): Headers {
  const named = connectionTokens(req.headers.get("connection"));
  const headers = new Headers();
  for (const [name, value] of req.headers) {
    if (ADMIN_ONLY.has(name) || HOP_BY_HOP.has(name) || named.includes(name) || FORWARDING.has(name) || WS_HANDSHAKE.has(name)) continue;
    headers.set(name, value);
  }
  const host = req.headers.get("host") ?? "";
  const client = peer ?? "127.0.0.1";
  headers.set("host", host);
  headers.set("x-forwarded-for", client);
  headers.set("x-real-ip", client);
  headers.set("x-forwarded-proto", "http");
  headers.set("x-forwarded-host", host);
  return headers;
}

/** Any other admin path goes to the `_admin` app's serving slot, HTTP or WebSocket. */
async function toAdminApp(port: AppPort, req: Request, env: AdminEnv | undefined): Promise<Response> {
  const slotPort = port.servingPort("_admin");
  if (slotPort === null) return Response.json({ ok: false, error: "_admin app not deployed" }, { status: 502 });
  const url = new URL(req.url);
  const headers = forwardHeaders(req, env?.peer ?? null);
  if (req.method === "GET" && (req.headers.get("upgrade") ?? "").toLowerCase() === "websocket" && env?.server) {
    return adminWebSocket(`ws://127.0.0.1:${slotPort}${url.pathname}${url.search}`, req, headers, env.server);
  }
  try {
    const upstream = await fetch(`http://127.0.0.1:${slotPort}${url.pathname}${url.search}`, {
      method: req.method,
      headers,
      body: req.body,
      redirect: "manual",
      decompress: false,
    } as RequestInit);
    const out = new Headers(upstream.headers);
    for (const name of HOP_BY_HOP) out.delete(name);
    return new Response(upstream.body, { status: upstream.status, headers: out });
  } catch (err) {
    return Response.json({ ok: false, error: `_admin app not reachable: ${(err as Error).message}` }, { status: 502 });
  }
}

/**
 * A WebSocket to the `_admin` app: the app's side first (5 s), then the client's 101 with the
 * subprotocol the app chose; then messages are relayed both ways and a close on one side closes
 * the other with its code. The admin listener is for a few operators, so no backpressure pacing.
 */
function adminWebSocket(target: string, req: Request, headers: Headers, server: Server<unknown>): Promise<Response> {
  const protocols = (req.headers.get("sec-websocket-protocol") ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
  headers.delete("sec-websocket-protocol");
  return new Promise((answer) => {
    const backend = new WebSocket(target, { headers: Object.fromEntries(headers), protocols } as unknown as string[]);
    backend.binaryType = "nodebuffer" as WebSocket["binaryType"];
    const pending: (string | Buffer)[] = [];
    let client: ServerWebSocket<AdminSocketData> | null = null;
    const timer = setTimeout(() => {
      backend.close();
      answer(Response.json({ ok: false, error: "_admin app did not accept the WebSocket within 5 s" }, { status: 504 }));
    }, 5000);
    backend.addEventListener("open", () => {
      clearTimeout(timer);
      const data: AdminSocketData = {
        open(ws) {
          client = ws;
          for (const m of pending.splice(0)) ws.send(m);
        },
        message: (_ws, message) => backend.send(message),
        close: (_ws, code) => backend.close(relayable(code)),
      };
      const upgraded = server.upgrade(req, { data, headers: backend.protocol ? { "sec-websocket-protocol": backend.protocol } : {} });
      if (!upgraded) {
        backend.close();
        answer(Response.json({ ok: false, error: "WebSocket upgrade failed" }, { status: 400 }));
        return;
      }
      answer(new Response(null)); // ignored by Bun once upgraded; Hono needs a Response
    });
    backend.addEventListener("message", (e) => {
      const m = e.data as string | Buffer;
      if (client) client.send(m);
      else pending.push(m);
    });
    backend.addEventListener("close", (e) => {
      clearTimeout(timer);
      if (client) client.close(relayable(e.code), e.reason);
      else answer(Response.json({ ok: false, error: `_admin app refused the WebSocket (${e.code})` }, { status: 502 }));
    });
  });
}

/** Codes that may not be sent in a close frame (1005, 1006, 1015) become 1011 (SPEC §5.8). */
function relayable(code: number): number {
  return code === 1005 || code === 1006 || code === 1015 || code < 1000 ? 1011 : code;
}
