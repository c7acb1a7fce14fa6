/**
 * The admin API (SPEC §11): one Hono app served on admin.bind and on run/control.sock; `c.env.local`
 * says which. Order of processing: rate limit → auth → OPTIONS → CSRF (guard.ts) → 1 MiB body cap
 * → route. `/` and `/ui/*` are the dashboard (SPEC §18, ui/). Every answer but the Prometheus text and 204s uses the JSON envelope.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { ApiError, failure } from "./envelope.ts";
import { adminGuard } from "./guard.ts";
import type { AdminEnv, AdminPort } from "./port.ts";
import { appRoutes } from "./routes/apps.ts";
import { clusterRoutes } from "./routes/cluster.ts";
import type { AdminApp } from "./routes/common.ts";
import { hashPasswordRoutes } from "./routes/hash-password.ts";
import { ruleRoutes } from "./routes/rules.ts";
import { statusRoutes } from "./routes/status.ts";
import { seriesRoutes } from "./routes/series.ts";
import { subsystemRoutes } from "./routes/subsystems.ts";
import { dashboardRoutes } from "./ui/routes.tsx";
import { Sessions } from "./ui/session.ts";

export const MAX_BODY_BYTES = 1024 * 1024;

export function createAdminApp(port: AdminPort): AdminApp {
  const app = new Hono<{ Bindings: AdminEnv }>();
  // A fresh secret per app, so a restart ends every dashboard session (SPEC §18).
  const sessions = new Sessions();
  app.use("*", adminGuard(port, sessions));
  app.use("*", bodyLimit({ maxSize: MAX_BODY_BYTES, onError: () => failure(413, "Request body too large (limit 1 MiB)") }));

  const api = new Hono<{ Bindings: AdminEnv }>();
  statusRoutes(api, port);
  ruleRoutes(api, port);
  subsystemRoutes(api, port);
  clusterRoutes(api, port);
  appRoutes(api, port);
  hashPasswordRoutes(api);
  seriesRoutes(api, port);
  app.route("/api/v1", api);
  dashboardRoutes(app, port, sessions, (req, env) => app.fetch(req, env));

  // Any other path belongs to the `_admin` app when there is one (SPEC §11.2).
  app.notFound((c) => port.apps?.passthrough?.(c.req.raw, c.env) ?? failure(404, "Not found"));

  app.onError((err, c) => {
    if (err instanceof ApiError) return failure(err.status, err.message, err.extra);
    if (err instanceof HTTPException) return failure(err.status, err.message || "Request failed");
    port.log().error({ err, method: c.req.method, path: c.req.path }, "admin API request failed");
    return failure(500, `Internal error: ${(err as Error).message}`);
  });
  return app;
}
