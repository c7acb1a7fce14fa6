/**
 * The life of the proxy process: load and compile the configuration, open the listeners, swap
 * snapshots on reload, shut down gracefully. The only module that wires the others together.
 */
import type { Server } from "bun";
import type { AppPort } from "../apps/port.ts";
import type { AppTimings } from "../apps/timings.ts";
import { allRoutes, compile, type AppRouteInput } from "../config/compile.ts";
import { ConfigError, formatIssue, hasErrors, type ConfigIssue } from "../config/issues.ts";
import { configFiles, loadConfig, type ConfigFiles } from "../config/load.ts";
import type { Snapshot } from "../config/snapshot.ts";
import { createLogger, type Logger } from "../lib/log.ts";
import { parseBind } from "../lib/net.ts";
import { createFetchHandler } from "../server/http.ts";
import { listen } from "../server/listen.ts";
import { ProxyState } from "../state/proxy-state.ts";
import { ensureSelfSigned } from "../tls/self-signed.ts";
import { startManagedApps } from "./apps.ts";
import { resolve } from "node:path";

export interface ProxyOptions {
  confPath: string;
  dev?: boolean;
  watch?: boolean;
  sitesDir?: string;
  /** Use this logger instead of one built from [logging] (tests). */
  logger?: Logger;
  /** Shorter supervision clocks (tests); [apps] health_check_interval_secs still applies unless given. */
  appTimings?: Partial<AppTimings>;
}

export type ReloadResult = { ok: true; version: number } | { ok: false; issues: ConfigIssue[] };

export interface ProxyHandle {
  readonly files: ConfigFiles;
  readonly state: ProxyState;
  /** Bound addresses; port 0 in config.toml resolves to the real port here. */
  readonly http: { hostname: string; port: number };
  readonly https: { hostname: string; port: number } | null;
  current(): Snapshot;
  log(): Logger;
  /** Re-reads proxy.conf and config.toml; applies them only if they validate (SPEC §13). */
  reload(): Promise<ReloadResult>;
  /** Graceful shutdown (SPEC §15.4). */
  shutdown(): Promise<void>;
  /** Managed apps, for the admin API and the control socket (SPEC §11.2). */
  readonly apps: AppPort;
  /** Settles once the apps found at start-up have been started (or failed to); tests await it. */
  readonly appsStarted: Promise<void>;
  /**
   * Publishes a new app routing table: the current proxy.conf and config.toml are compiled again
   * with it and swapped in by one assignment, exactly like a reload (SPEC §14.7 step 4).
   */
  setAppRoutes(routes: readonly AppRouteInput[]): void;
  /** The `.test` aliases of the apps in --dev (SPEC §14.9), for the self-signed certificate. */
  devAliases(): string[];
  /** Calls `listener` with the new alias list whenever discovery changes it; returns the unsubscribe. */
  onDevAliasesChange(listener: (aliases: string[]) => void): () => void;
}

export async function startProxy(opts: ProxyOptions): Promise<ProxyHandle> {
  const files = configFiles(opts.confPath);
  const dev = opts.dev ?? false;
  const loaded = loadConfig(files);
  if (hasErrors(loaded.issues) || !loaded.conf || !loaded.settings) throw new ConfigError(loaded.issues);
  const settings = loaded.settings;
  const log =
    opts.logger ??
    createLogger({ level: settings.logging.level, format: settings.logging.format, output: resolveOutput(settings.logging.output, files.dir) });
  for (const issue of loaded.issues) log.warn(formatIssue(issue));

  let snapshot = compile({ version: 1, dev, conf: loaded.conf, settings, files });
  const state = new ProxyState();
  const current = () => snapshot;

  const bind = parseBind(settings.server.bind)!;
  const servers: Server<unknown>[] = [];
  const stopAll = () => Promise.all(servers.map((s) => s.stop(true))).then(() => undefined);
  try {
    const plain = listen({
      hostname: bind.host,
      port: bind.port,
      idleTimeout: settings.limits.keep_alive_timeout,
      fetch: createFetchHandler({ current, state, log: () => log, scheme: "http" }),
    });
    servers.push(plain);

    const cacheDir = resolve(files.dir, settings.tls.cache_dir);
    const fallback = await ensureSelfSigned(cacheDir);
    if (fallback.generated) log.info({ dir: cacheDir }, "generated self-signed fallback certificate");
    const https = listen({
      hostname: bind.host,
      port: settings.server.https_port,
      idleTimeout: settings.limits.keep_alive_timeout,
      tls: [{ cert: fallback.cert, key: fallback.key }],
      fetch: createFetchHandler({ current, state, log: () => log, scheme: "https" }),
    });
    servers.push(https);
  } catch (err) {
    await stopAll();
    throw new Error(`cannot listen: ${(err as Error).message}`);
  }
  const [plainServer, httpsServer] = servers as [Server<unknown>, Server<unknown>];
  log.info({ http: `${bind.host}:${plainServer.port}`, https: `${bind.host}:${httpsServer.port}`, dev, version: snapshot.version }, "soli-proxy listening");

  // Managed apps (SPEC §14): discovered and started after the listeners are up, in the background.
  let appRoutes: readonly AppRouteInput[] = [];
  const setAppRoutes = (routes: readonly AppRouteInput[]) => {
    appRoutes = routes;
    const compiled = compile({ version: snapshot.version + 1, dev, conf: snapshot.conf, settings: snapshot.settings, apps: routes, files });
    snapshot = compiled; // the swap, as in reload()
    state.prune(new Set(allRoutes(compiled.routes).map((r) => r.key)));
    log.info({ apps: routes.map((r) => `${r.name} -> 127.0.0.1:${r.port}`) }, `app routes applied (config v${compiled.version})`);
  };
  const apps = startManagedApps({
    sitesDir: resolve(opts.sitesDir ?? "sites"),
    configDir: files.dir,
    dev,
    watch: opts.watch === true,
    log,
    state,
    settings: settings.apps,
    current: () => snapshot.settings.apps,
    publish: setAppRoutes,
    timings: opts.appTimings,
  });

  let reloading: Promise<ReloadResult> | null = null;
  const reload = async (): Promise<ReloadResult> => {
    const next = loadConfig(files);
    if (hasErrors(next.issues) || !next.conf || !next.settings) {
      log.error({ issues: next.issues.map(formatIssue) }, `config reload rejected, keeping v${snapshot.version}`);
      return { ok: false, issues: next.issues };
    }
    const compiled = compile({ version: snapshot.version + 1, dev, conf: next.conf, settings: next.settings, apps: appRoutes, files });
    snapshot = compiled; // the swap: every request from here on sees the new configuration
    state.prune(new Set(allRoutes(compiled.routes).map((r) => r.key)));
    log.level = compiled.settings.logging.level;
    log.info(`config v${compiled.version} applied`);
    return { ok: true, version: compiled.version };
  };

  let stopping: Promise<void> | null = null;
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      log.info("Received shutdown signal, draining connections...");
      state.shuttingDown = true;
      const grace = snapshot.limits.shutdownGraceMs;
      const drained = Promise.all(servers.map((s) => s.stop(false)));
      const timer = new Promise<void>((r) => setTimeout(r, grace).unref?.());
      await Promise.race([drained, timer]);
      await stopAll();
      await apps.shutdown(); // every app, both slots (SPEC §15.4)
      state.pool.closeIdle();
      log.info("soli-proxy stopped");
    })();
    return stopping;
  };

  return {
    files,
    state,
    http: { hostname: bind.host, port: plainServer.port ?? 0 },
    https: { hostname: bind.host, port: httpsServer.port ?? 0 },
    current,
    log: () => log,
    reload: () => (reloading ??= reload().finally(() => (reloading = null))),
    shutdown,
    apps: apps.port,
    appsStarted: apps.started,
    setAppRoutes,
    devAliases: apps.devAliases,
    onDevAliasesChange: apps.onDevAliasesChange,
  };
}

/** `file:<path>` outputs are relative to the config dir, like every path in config.toml (SPEC §1). */
function resolveOutput(output: string, dir: string): string {
  return output.startsWith("file:") ? `file:${resolve(dir, output.slice(5))}` : output;
}
