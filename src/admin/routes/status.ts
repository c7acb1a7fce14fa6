/** GET /status and GET /config (SPEC §11.2): what is running, without secrets or hashes. */
import { redactRule } from "../../config/rule-json.ts";
import { ok } from "../envelope.ts";
import type { AdminPort } from "../port.ts";
import type { AdminApp } from "./common.ts";

export function statusRoutes(api: AdminApp, port: AdminPort): void {
  api.get("/status", (c) => {
    const { snapshot, conf, settings } = port.current();
    const listeners = port.listeners();
    return ok(c, {
      version: port.version,
      uptime_secs: Math.floor((Date.now() - port.startedAt) / 1000),
      route_count: conf.rules.length,
      app_count: port.apps ? port.apps.list().length : 0,
      bind: listeners.bind,
      https_port: listeners.httpsPort,
      tls_mode: settings.tls.mode,
      admin_bind: listeners.adminBind,
      config_version: snapshot.version,
      last_reload_error: port.lastReloadError(),
    });
  });

  api.get("/config", (c) => {
    const { settings: s, conf } = port.current();
    const blank = (table: Readonly<Record<string, string>>) => Object.fromEntries(Object.keys(table).map((k) => [k, ""]));
    return ok(c, {
      server: s.server,
      tls: s.tls,
      letsencrypt: s.letsencrypt,
      admin: { ...s.admin, api_key: "" },
      auth: {
        ...s.auth,
        users: blank(s.auth.users),
        api_keys: blank(s.auth.api_keys),
        ...(s.auth.jwt ? { jwt: { ...s.auth.jwt, ...(s.auth.jwt.secret !== undefined ? { secret: "" } : {}) } } : {}),
      },
      limits: s.limits,
      health: s.health,
      metrics: s.metrics,
      logging: s.logging,
      // A Redis URL may carry a password.
      rate_limiting: { ...s.rate_limiting, ...(s.rate_limiting.redis_url?.includes("@") ? { redis_url: "" } : {}) },
      circuit_breaker: s.circuit_breaker,
      apps: s.apps,
      rules: conf.rules.map(redactRule),
    });
  });
}
