/**
 * Managed-app endpoints (SPEC §11.2, §14): a thin mapping onto the AppsProvider. Without one
 * every endpoint answers 501 `app management is not available`.
 */
import { ApiError, ok } from "../envelope.ts";
import type { AdminPort, AppFailure, AppsProvider } from "../port.ts";
import { sseResponse } from "../sse.ts";
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
      // A deploy waits for health checks for up to minutes; the idle timer must not cut it.
      c.env?.server?.timeout(c.req.raw, 0);
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
    return sseResponse(c, (sink) => provider.subscribe((event) => sink.send(event)));
  });
}

function rethrow(err: unknown, name: string, failed: string): never {
  const f = err as Partial<AppFailure>;
  if (f.kind === "not_found") throw new ApiError(404, `App not found: ${name}`);
  if (f.kind === "busy") throw new ApiError(409, f.message ?? `Deployment already in progress for ${name}`);
  throw new ApiError(500, `${failed}: ${f.message ?? String(err)}`);
}
