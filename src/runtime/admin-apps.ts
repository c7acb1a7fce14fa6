/**
 * The admin API's view of managed apps (AppsProvider, src/admin/port.ts) over the supervisor's
 * AppPort (src/apps/port.ts): names, error shapes and the `_admin` passthrough (SPEC §11.2).
 */
import type { AppsProvider } from "../admin/port.ts";
import { AppError } from "../apps/errors.ts";
import type { AppPort } from "../apps/port.ts";
import { PROGRESS_PHASES } from "../apps/progress.ts";
import { HOP_BY_HOP } from "../lib/headers.ts";

/** Headers the `_admin` app never sees (SPEC §11.2): credentials meant for the admin API itself. */
const ADMIN_ONLY = new Set(["authorization", "proxy-authorization", "x-api-key", "host"]);

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
    passthrough: (req) => (port.has("_admin") ? toAdminApp(port, req) : null),
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

/** Any other admin path goes to the `_admin` app's serving slot, as plain HTTP. */
async function toAdminApp(port: AppPort, req: Request): Promise<Response> {
  const slotPort = port.servingPort("_admin");
  if (slotPort === null) return Response.json({ ok: false, error: "_admin app not deployed" }, { status: 502 });
  const url = new URL(req.url);
  const headers = new Headers();
  for (const [name, value] of req.headers) if (!ADMIN_ONLY.has(name) && !HOP_BY_HOP.has(name)) headers.set(name, value);
  headers.set("x-forwarded-proto", "http");
  headers.set("x-forwarded-host", req.headers.get("host") ?? "");
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
