/**
 * Managed-app endpoints (SPEC §11.2, §14): a thin mapping onto the AppsProvider. Without one
 * every endpoint answers 501 `app management is not available`.
 */
import { ApiError, ok } from "../envelope.ts";
import type { AdminPort, AppFailure, AppsProvider } from "../port.ts";
import { type SseContext, sseResponse } from "../sse.ts";
import { need, type AdminApp } from "./common.ts";

const UNAVAILABLE = "app management is not available";

export function appRoutes(api: AdminApp, port: AdminPort): void {
  const apps = (): AppsProvider => need(port.apps, UNAVAILABLE);
  const known = (name: string): void => {
    if (apps().get(name) === null) throw new ApiError(404, `App not found: ${name}`);
  };

  api.get("/app-metrics", (c) => ok(c, apps().metrics()));
  api.get("/app-metrics/system", (c) => ok(c, apps().systemMetrics()));
  api.get("/apps", (c) => ok(c, apps().list()));
  api.get("/apps/:name", (c) => {
    const app = apps().get(c.req.param("name"));
    if (app === null) throw new ApiError(404, `App not found: ${c.req.param("name")}`);
    return ok(c, app);
  });
  api.get("/apps/:name/metrics", (c) => {
    known(c.req.param("name"));
    return ok(c, apps().appMetrics(c.req.param("name")));
  });
  api.get("/apps/:name/logs", async (c) => {
    const name = c.req.param("name");
    const logs = await apps().logs(name);
    if (logs === null) throw new ApiError(404, `App not found: ${name}`);
    return ok(c, { app: name, ...logs });
  });

  const action = (verb: "deploy" | "restart" | "rollback", started: string, failed: string) =>
    api.post(`/apps/:name/${verb}`, async (c) => {
      const name = c.req.param("name");
      const provider = apps();
      // A deploy waits for health checks for up to minutes; the idle timer must not cut it (SPEC §11.2).
      c.env?.server?.timeout(c.req.raw, 0);
      if ((c.req.header("accept") ?? "").includes("text/event-stream")) {
        // 404 and 409 are answers, not streams: decided before the stream opens.
        known(name);
        if (provider.busy(name)) throw new ApiError(409, `Deployment already in progress for ${name}`);
        return progressStream(c, (onProgress) =>
          provider[verb](name, onProgress).then(
            ({ slot }) => ({ message: started, app: name, slot }),
            (err) => {
              try {
                rethrow(err, name, failed);
              } catch (api) {
                throw api instanceof ApiError ? new Error(api.message) : api;
              }
            },
          ),
        );
      }
      const { slot } = await provider[verb](name).catch((err) => rethrow(err, name, failed));
      return ok(c, { message: started, app: name, slot });
    });
  action("deploy", "Deployment started", "Deployment failed");
  action("restart", "Restart started", "Restart failed");
  action("rollback", "Rollback started", "Rollback failed");

  api.post("/apps/:name/stop", async (c) => {
    const name = c.req.param("name");
    await apps()
      .stop(name)
      .catch((err) => rethrow(err, name, "Stop failed"));
    return ok(c, { message: "App stopped", app: name });
  });

  api.get("/events/apps", (c) => {
    const provider = apps();
    const phases = phaseFilter(c.req.query("phase"), provider.phases);
    return sseResponse(c, (sink) =>
      provider.subscribe((event) => {
        const e = event as { type?: string; phase?: string };
        if (phases && e.type === "Progress" && !phases.has(e.phase ?? "")) return;
        sink.send(event);
      }),
    );
  });
}

/**
 * `?phase=health,done`: only these Progress phases (other event types pass unchanged). An unknown
 * phase is a 400, not a filter that silently matches nothing.
 */
function phaseFilter(param: string | undefined, known: readonly string[]): Set<string> | null {
  if (param === undefined) return null;
  const phases = param.split(",").map((p) => p.trim());
  const unknown = phases.filter((p) => !known.includes(p));
  if (unknown.length > 0) throw new ApiError(400, `unknown phase: ${unknown.join(", ")} (phases: ${known.join(", ")})`);
  return new Set(phases);
}

/**
 * The SSE form of deploy, restart and rollback (SPEC §11.2): `event: progress` per phase, then
 * `event: done` with the success data or `event: error` with the error. A client that goes away
 * only stops the stream; the operation runs on.
 */
function progressStream(c: SseContext, run: (onProgress: (progress: object) => void) => Promise<object>): Response {
  return sseResponse(c, (sink) => {
    run((progress) => sink.send(progress, "progress")).then(
      (data) => {
        sink.send(data, "done");
        sink.close();
      },
      (err) => {
        sink.send({ error: (err as Error).message }, "error");
        sink.close();
      },
    );
    return () => {};
  });
}

function rethrow(err: unknown, name: string, failed: string): never {
  const f = err as Partial<AppFailure>;
  if (f.kind === "not_found") throw new ApiError(404, `App not found: ${name}`);
  if (f.kind === "busy") throw new ApiError(409, f.message ?? `Deployment already in progress for ${name}`);
  throw new ApiError(500, `${failed}: ${f.message ?? String(err)}`);
}
