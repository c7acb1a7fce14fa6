/**
 * Wires the admin API (SPEC §11) to the runtime: builds the AdminPort, serves the app on the
 * control socket (always, SPEC §15.2) and on admin.bind (when enabled and safe). Neither failing
 * stops the proxy: the reason is logged and traffic keeps flowing.
 */
import type { Server } from "bun";
import { rmSync } from "node:fs";
import type { AdminPort } from "../admin/port.ts";
import type { Logger } from "../lib/log.ts";
import { formatAuthority, isLoopback, parseBind } from "../lib/net.ts";
import { VERSION } from "../lib/version.ts";
import { serveAdminSocket, serveAdminTcp, type AdminFetch } from "../server/admin.ts";
import type { AdminCredentials } from "./admin-credentials.ts";
import type { Reloader } from "./reloader.ts";
import type { RunDir } from "./run-dir.ts";

/** The subsystem providers of the AdminPort; each one absent answers 501. */
export type AdminProviders = Pick<AdminPort, "rateLimit" | "metricsText" | "breakers" | "certificates" | "apps" | "cluster" | "series" | "upgrade">;

export interface AdminDeps {
  /** The one door for changes, and the configuration it applied last (AdminPort.current). */
  reloader: Reloader;
  credentials: AdminCredentials;
  log: () => Logger;
  startedAt: number;
  /** Real proxy listener addresses. */
  listeners: { bind: string; httpsPort: number | null };
  run: RunDir;
  providers?: AdminProviders;
  /** The admin port the old primary really bound, when admin.bind says port 0 (SPEC §15.5). */
  adminPort?: number | null;
}

export interface AdminHandle {
  /** The admin.bind listener, or null when it is off, refused or failed to bind. */
  readonly tcp: { hostname: string; port: number } | null;
  /** The control socket path, or null when it could not be created. */
  readonly socket: string | null;
  /** `force` closes open admin connections too; without it in-flight requests finish (an upgrade's answer). */
  stop(force?: boolean): void;
  /** Resolves once no admin request is in flight (at most `ms`). */
  idle(ms: number): Promise<void>;
}

/** The AdminPort over the runtime's pieces; `adminBind` reports the admin listener once bound. */
export function createAdminPort(deps: Omit<AdminDeps, "run">, adminBind: () => string | null = () => null): AdminPort {
  return {
    version: VERSION,
    startedAt: deps.startedAt,
    current: () => deps.reloader.current,
    listeners: () => ({ ...deps.listeners, adminBind: adminBind() }),
    lastReloadError: () => deps.reloader.lastReloadError,
    reload: () => deps.reloader.reload(),
    updateConf: (build) => deps.reloader.updateConf(build),
    basicCredentials: () => deps.credentials.get(),
    log: deps.log,
    ...deps.providers,
  };
}

export function startAdmin(deps: AdminDeps): AdminHandle {
  const log = deps.log;
  let adminBind: string | null = null;
  const app = lazyAdminApp(createAdminPort(deps, () => adminBind));
  const servers: Server<unknown>[] = [];

  let socket: string | null = null;
  try {
    rmSync(deps.run.socket, { force: true }); // ours by now: claimRunDir or the upgrade handover (SPEC §15.2, §15.5)
    servers.push(serveAdminSocket(app, deps.run.socket));
    socket = deps.run.socket;
  } catch (err) {
    log().error({ path: deps.run.socket, err: (err as Error).message }, "cannot open the control socket; local commands will not reach this proxy");
  }

  let tcp: AdminHandle["tcp"] = null;
  const settings = deps.reloader.current.settings.admin;
  const bind = parseBind(settings.bind)!;
  const hasCredential = settings.api_key !== "" || deps.credentials.get() !== null;
  if (!settings.enabled) {
    log().info("admin API disabled ([admin] enabled = false); the control socket still answers");
  } else if (!isLoopback(bind.host) && !hasCredential) {
    log().error(
      { bind: settings.bind },
      "admin API not started: it would listen on a non-loopback address with no credential; set [admin] api_key or ADMIN_USER/ADMIN_PASSWORD",
    );
  } else {
    try {
      const server = serveAdminTcp(app, bind.host, bind.port === 0 && deps.adminPort ? deps.adminPort : bind.port);
      servers.push(server);
      tcp = { hostname: bind.host, port: server.port ?? bind.port };
      adminBind = formatAuthority(bind.host, tcp.port);
      if (!hasCredential)
        log().warn({ bind: adminBind }, "admin API is open: no api_key or ADMIN_USER/ADMIN_PASSWORD; anyone on this machine can change the configuration");
      log().info({ bind: adminBind }, "admin API listening");
    } catch (err) {
      log().error({ bind: settings.bind, err: (err as Error).message }, "admin API could not bind; the proxy keeps running without it");
    }
  }

  return {
    tcp,
    socket,
    stop(force = true) {
      for (const server of servers) void server.stop(force);
    },
    async idle(ms) {
      const deadline = Date.now() + ms;
      while (servers.some((s) => s.pendingRequests > 0) && Date.now() < deadline) await Bun.sleep(10);
    },
  };
}

/**
 * The admin API's Hono app (with the dashboard and its assets), built on its first request: a
 * proxy that nobody administers does not carry it (memory for small servers, bench/memory.ts).
 */
function lazyAdminApp(port: AdminPort): AdminFetch {
  let app: Promise<AdminFetch> | null = null;
  return {
    fetch: async (req, env) => {
      app ??= import("../admin/api.ts").then((m) => m.createAdminApp(port));
      return (await app).fetch(req, env);
    },
  };
}
