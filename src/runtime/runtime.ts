/**
 * The primary process: the only module that wires the others together. `startProxy` reads top to
 * bottom in start-up order, each part with its start and its stop:
 *
 *   configuration  load, validate, logger, run/                  (config/load.ts, run-dir.ts)
 *   serving        the snapshot, its swap, listeners, drain      (serving.ts; worker-pool.ts)
 *   TLS            certificates, cache_dir watcher, ACME         (tls.ts)
 *   reloads        the one door for configuration changes        (reloader.ts)
 *   apps           managed apps and their routing table          (apps.ts)
 *   cluster        Redis membership, config sync, shared state   (cluster.ts)
 *   control        admin API on run/control.sock and admin.bind  (admin.ts)
 *
 * `stop` runs them in reverse (SPEC §15.4); `upgrade` hands them to a new primary (SPEC §15.5).
 */
import { join, resolve } from "node:path";
import type { AppPort } from "../apps/app-port.ts";
import type { AppTimings } from "../apps/timings.ts";
import { appliedConfig, type AppliedConfig } from "../config/applied.ts";
import { compile, type AppRouteInput } from "../config/compile.ts";
import { ConfigError, formatIssue, hasErrors, type ReloadResult } from "../config/issues.ts";
import { configFiles, loadConfig, type ConfigFiles } from "../config/load.ts";
import type { Snapshot } from "../config/snapshot.ts";
import { selfCommand } from "../lib/executable.ts";
import type { Logger } from "../lib/log.ts";
import { formatAuthority, parseBind } from "../lib/net.ts";
import { VERSION } from "../lib/version.ts";
import { rateHeaders } from "../proxy/rate-limit.ts";
import { clientKey } from "../state/limiter.ts";
import { ProxyState } from "../state/proxy-state.ts";
import { MetricsSeries } from "../state/series.ts";
import { ChallengeTokens } from "../tls/challenge.ts";
import { AdminCredentials } from "./admin-credentials.ts";
import { appsProvider } from "./admin-apps.ts";
import { startAdmin, type AdminProviders } from "./admin.ts";
import { startManagedApps } from "./apps.ts";
import { startCluster, type ClusterHandle } from "./cluster.ts";
import { loggerFor } from "./logging.ts";
import { writePidFile } from "./pidfile.ts";
import { Reloader } from "./reloader.ts";
import { claimRunDir, runDirFor } from "./run-dir.ts";
import { Serving } from "./serving.ts";
import { TlsRuntime, type CertificateInfo, type CertificateReload } from "./tls.ts";
import { readyTimeoutMs, startSuccessor, type Successor } from "./upgrade.ts";
import { watchConfigFiles } from "./watcher.ts";
import { WorkerPool, workerCount } from "./worker-pool.ts";
import { configPayload } from "./worker-protocol.ts";

export type { ReloadResult };

export interface ProxyOptions {
  confPath: string;
  dev?: boolean;
  watch?: boolean;
  sitesDir?: string;
  /** Use this logger instead of one built from [logging] (tests). */
  logger?: Logger;
  /** Where ADMIN_USER / ADMIN_PASSWORD are looked up first (default process.env). */
  env?: Record<string, string | undefined>;
  /** Subsystems the admin API reports on (metrics, breakers, certificates, apps). */
  adminProviders?: AdminProviders;
  /** Shorter supervision clocks (tests); [apps] health_check_interval_secs still applies unless given. */
  appTimings?: Partial<AppTimings>;
  /** --run-dir (else `[server] run_dir`, else run/ beside proxy.conf). */
  runDir?: string | null;
  /** The command-line arguments, for the re-exec of a hitless upgrade (SPEC §15.5); none ⇒ no upgrade. */
  argv?: readonly string[];
  /** Set when this process is the new primary of a hitless upgrade (SPEC §15.5). */
  successor?: Successor | null;
}

export interface ProxyHandle {
  readonly files: ConfigFiles;
  readonly state: ProxyState;
  /** Bound addresses; port 0 in config.toml resolves to the real port here. */
  readonly http: { hostname: string; port: number };
  readonly https: { hostname: string; port: number } | null;
  /** The admin API listener (admin.bind), null when off, refused or not bound. */
  readonly admin: { hostname: string; port: number } | null;
  /** run/control.sock, or null when it could not be opened. */
  readonly controlSocket: string | null;
  /** HTTP-01 tokens answered on the proxy listeners (SPEC §12.6); publishing waits for every worker. */
  readonly challenges: ChallengeTokens;
  /** With worker_threads > 1 the worker processes (SPEC §15.1), else null. */
  readonly workers: { pids(): number[] } | null;
  /** Live counts of reload attempts by result (proxy_config_reloads_total). */
  readonly reloadCounts: { readonly success: number; readonly failure: number };
  /** The snapshot every new request pins. */
  current(): Snapshot;
  /** The configuration applied now: the snapshot and the rules, settings and text it was compiled from. */
  applied(): AppliedConfig;
  log(): Logger;
  /** Re-reads proxy.conf and config.toml; applies them only if they validate (SPEC §13). */
  reload(): Promise<ReloadResult>;
  /** Re-reads the sites directory (SIGHUP, SPEC §13): new, changed and removed apps. */
  rediscoverApps(): void;
  /** Graceful shutdown (SPEC §15.4). */
  shutdown(): Promise<void>;
  /**
   * Hitless upgrade (SPEC §15.5): the executable on disk takes over; this process then drains and
   * `retired` settles. Rejects, with this process still serving, when the new one did not take over.
   */
  upgrade(): Promise<{ pid: number; version: string }>;
  /** Settles once this process handed over to a new primary and drained (it should exit 0 then). */
  readonly retired: Promise<void>;
  /** Managed apps, for the admin API and the control socket (SPEC §11.2). */
  readonly apps: AppPort;
  /** Settles once the apps found at start-up have been started (or failed to); tests await it. */
  readonly appsStarted: Promise<void>;
  /**
   * Publishes a new app routing table: the current proxy.conf and config.toml are compiled again
   * with it and swapped in by one assignment, exactly like a reload (SPEC §14.7 step 4).
   */
  setAppRoutes(routes: readonly AppRouteInput[]): Promise<number>;
  /** The `.test` aliases of the apps in --dev (SPEC §14.9), for the self-signed certificate. */
  devAliases(): string[];
  /** Calls `listener` with the new alias list whenever discovery changes it; returns the unsubscribe. */
  onDevAliasesChange(listener: (aliases: string[]) => void): () => void;
  /** The certificates in service, fallback first (GET /api/v1/certs, the expiry gauge of SPEC §10). */
  certificates(): CertificateInfo[];
  /** Rescans tls.cache_dir now (SIGUSR1, POST /api/v1/certs/reload; SPEC §12.3). */
  reloadCertificates(): Promise<CertificateReload>;
  /** --dev: the `.test` aliases of the managed apps, covered by the fallback (SPEC §12.4). */
  setDevAliases(names: readonly string[]): Promise<CertificateReload>;
  /** letsencrypt mode: the managed apps' domains, ordered like domain rules (SPEC §12.6). */
  setAppDomains(domains: readonly string[]): void;
}

export async function startProxy(opts: ProxyOptions): Promise<ProxyHandle> {
  // Configuration: read and validated once; nothing is bound when it has an error (SPEC §2).
  const files = configFiles(opts.confPath);
  const dev = opts.dev ?? false;
  const loaded = loadConfig(files);
  if (hasErrors(loaded.issues) || !loaded.conf || !loaded.settings) throw new ConfigError(loaded.issues);
  const settings = loaded.settings;
  const log = opts.logger ?? loggerFor(settings.logging, files.dir, dev);
  for (const issue of loaded.issues) log.warn(formatIssue(issue));
  const startedAt = Date.now();
  const run = runDirFor(opts.runDir ? resolve(opts.runDir) : settings.server.run_dir ? resolve(files.dir, settings.server.run_dir) : join(files.dir, "run"));
  const successor = opts.successor ?? null;
  // The old primary of an upgrade still holds the socket; it hands it over below (SPEC §15.5).
  await claimRunDir(run, successor === null);

  // Serving: the snapshot in service, its swap and the drain (runtime/serving.ts). A new primary
  // starts with the old one's app routes: the apps it is about to adopt (SPEC §15.5).
  const initialRoutes: readonly AppRouteInput[] = successor?.mark.routes ?? [];
  const state = new ProxyState();
  const challenges = new ChallengeTokens();
  const initial = appliedConfig({
    snapshot: compile({ version: 1, dev, conf: loaded.conf, settings, files, auth: loaded.auth, apps: initialRoutes }),
    conf: loaded.conf,
    settings,
    confText: loaded.confText ?? "",
    tomlText: loaded.tomlText,
    auth: loaded.auth,
  });
  const serving = new Serving({
    snapshot: initial.snapshot,
    state,
    challenges,
    log: () => log,
  });
  const current = serving.current;

  // TLS: the certificates in service; every new set goes to the HTTPS listeners (SPEC §12.3).
  let workers: WorkerPool | null = null;
  const tls = await TlsRuntime.start({
    applied: initial,
    challenges,
    log: () => log,
    install: (entries) => (workers ? workers.publishCertificates(entries) : serving.replaceCertificates(entries)),
  });

  // The proxy listeners: bound here, or by worker processes (SPEC §15.1).
  const bind = parseBind(settings.server.bind)!;
  const processes = workerCount(settings.server.worker_threads, dev);
  const doors = await openDoors({
    serving,
    tls,
    processes,
    hostname: bind.host,
    successor,
    initialRoutes,
    applied: initial,
    state,
    challenges,
    log: () => log,
  });
  workers = doors.workers;
  const { http: httpPort, https: httpsPort } = doors;

  // Every configuration change goes through this one door (ARCHITECTURE §3).
  const credentials = new AdminCredentials(files.dir, opts.env ?? process.env, () => log);
  credentials.refresh();
  // Managed apps publish their routing table here; every compile includes it (SPEC §5.3 step 2).
  let appRoutes: readonly AppRouteInput[] = initialRoutes;
  // Cluster mode (SPEC §17): started once the listeners are up; told about every applied configuration.
  let cluster: ClusterHandle | null = null;
  let stopping: Promise<void> | null = null;
  const reloader = new Reloader({
    files,
    log: () => log,
    initial,
    compile: (conf, nextSettings, version, auth) => compile({ version, dev, conf, settings: nextSettings, apps: appRoutes, files, auth }),
    swap(next) {
      serving.swap(next.snapshot); // every request from here on sees the new configuration
      tls.configChanged(next.snapshot);
      // A logger handed in by the caller (tests, embedding) keeps its own level.
      if (!opts.logger) log.level = next.settings.logging.level;
      credentials.refresh();
      workers?.publishConfig(configPayload(next, appRoutes));
    },
    onResult: (ok) => {
      state.metrics.configReload(ok);
      if (ok) cluster?.configApplied(reloader.current.confText);
    },
    // A change is done once every worker serves it (SPEC §15.1).
    settled: workers ? () => workers!.delivered() : undefined,
  });

  // The new primary of an upgrade: listeners are up beside the old ones; the old primary now lets
  // go of the admin port, the control socket and the apps (SPEC §15.5).
  if (successor) {
    try {
      await successor.handover();
    } catch (err) {
      await serving.close();
      throw err;
    }
  }

  // Apps (SPEC §14): discovered and started after the listeners are up, in the background. A new
  // primary keeps the old one's app routes until it has adopted the apps: discovery alone would
  // publish them without ports (503) for the moment in between (SPEC §15.5).
  let heldRoutes: readonly AppRouteInput[] | null | undefined = successor ? null : undefined;
  const setAppRoutes = (routes: readonly AppRouteInput[]): Promise<number> => {
    appRoutes = routes;
    // App domains get certificates like domain rules (SPEC §12.6; not www. forms, §14.7 step 4).
    tls.setAppDomains(routes.map((r) => r.hosts[0]!));
    return reloader.recompile(
      `app routes applied: ${routes.map((r) => `${r.name} -> ${r.port === null ? "no running slot (503)" : `127.0.0.1:${r.port}`}`).join(", ") || "none"}`,
    );
  };
  const apps = startManagedApps({
    sitesDir: resolve(opts.sitesDir ?? "sites"),
    runDir: run.dir,
    dev,
    watch: opts.watch === true,
    log,
    state,
    settings: settings.apps,
    current: () => reloader.current.settings.apps,
    publish: (routes) => {
      if (heldRoutes !== undefined) heldRoutes = routes;
      else void setAppRoutes(routes);
    },
    // A successful switch resets the new slot's breaker (SPEC §6.2, §14.7 step 4).
    onSwitch: (_app, _slot, port) => {
      state.breakers.reset(`http://127.0.0.1:${port}`);
      workers?.resetBreakers(`http://127.0.0.1:${port}`);
    },
    timings: opts.appTimings,
  });

  // Cluster mode (SPEC §17), when [cluster] redis_url is set.
  cluster = startCluster({
    settings,
    state,
    httpPort,
    confPath: files.conf,
    appliedText: () => reloader.current.confText,
    lastReloadError: () => reloader.lastReloadError,
    applyConf: (text) => reloader.updateConf(() => text),
    tls,
    challenges,
    log: () => log,
  });

  // The dashboard's 15-minute traffic series (SPEC §18), from the primary's totals over every process.
  const series = new MetricsSeries(
    () => state.metrics.totals(),
    () => (workers ? workers.inFlight() : state.inFlight),
  );
  series.start();

  // Control: the admin API on run/control.sock and admin.bind (SPEC §11, §15.2); reopened when an upgrade fails.
  const startControl = () =>
    startAdmin({
      adminPort: successor?.mark.admin ?? null,
      reloader,
      credentials,
      log: () => log,
      startedAt,
      listeners: { bind: formatAuthority(bind.host, httpPort), httpsPort },
      run,
      providers: {
        ...coreAdminProviders(state, current, workers),
        series,
        apps: appsProvider(apps.port),
        certificates: {
          list: () => tls.certificates(),
          reload: () => tls.reload().then((r) => ({ count: r.count, refused: r.refused.map((p) => ({ file: p.file, error: p.error })) })),
        },
        cluster: () => (cluster ? cluster.view() : Promise.resolve({ enabled: false, name: settings.cluster.name, redis: "down", self: null, members: [] })),
        upgrade: () => upgrade(),
        ...opts.adminProviders,
      },
    });
  let control = startControl();

  // Written once the listeners and the control socket are up: a daemon launcher waits for it.
  let removePid: () => void = () => {};
  try {
    removePid = writePidFile(run.dir);
  } catch (err) {
    log.warn({ err: (err as Error).message }, "cannot write run/proxy.pid");
  }
  log.info(
    {
      http: formatAuthority(bind.host, httpPort),
      https: formatAuthority(bind.host, httpsPort),
      admin: control.tcp ? formatAuthority(control.tcp.hostname, control.tcp.port) : null,
      dev,
      version: current().version,
      workers: processes,
    },
    "soli-proxy listening",
  );

  // TLS in the background: the cache_dir watcher and ACME. In cluster mode ACME waits for the
  // first Redis attempt, so it can take the order lock (SPEC §17.2).
  const startTls = () => void (stopping === null && tls.startBackground(opts.watch ?? false, () => log));
  if (cluster) void cluster.ready.finally(startTls);
  else startTls();
  // proxy_certificate_expiry_timestamp_seconds{name} (SPEC §10) reads the certificates in service.
  state.metrics.certificates = () => tls.certificates().map((c) => ({ name: c.name, notAfter: Date.parse(c.not_after) }));
  // --dev: the fallback certificate also covers the apps' .test aliases (SPEC §12.4).
  if (dev) {
    void tls.setDevAliases(apps.devAliases());
    apps.onDevAliasesChange((names) => void tls.setDevAliases(names));
  }

  // The file watcher: proxy.conf and config.toml changes reload (SPEC §13).
  const watcher =
    opts.watch === false
      ? null
      : watchConfigFiles(
          files,
          () => void reloader.reloadIfChanged(),
          () => log,
        );

  if (successor) {
    await apps.adopted; // SPEC §15.5: adopted every app slot, then ready
    const routes = heldRoutes;
    heldRoutes = undefined;
    if (routes) await setAppRoutes(routes);
    successor.ready(VERSION);
  }

  let retire: () => void = () => {};
  const retired = new Promise<void>((resolve) => (retire = resolve));
  /** §15.4 shutdown, or the old primary's exit after a hitless upgrade (§15.5), which leaves the apps running. */
  const stop = (upgraded: boolean): Promise<void> => {
    stopping ??= (async () => {
      log.info(upgraded ? "Handed over to the new primary, draining connections..." : "Received shutdown signal, draining connections...");
      if (upgraded) await control.idle(2000); // the upgrade's own answer goes out first
      watcher?.close();
      tls.stop();
      await serving.stop();
      control.stop();
      await cluster?.stop();
      series.stop();
      if (upgraded)
        apps.release(); // they keep running under the new primary
      else await apps.stop(); // every app, both slots (SPEC §15.4)
      removePid(); // only while it still names this process
      log.info(upgraded ? "soli-proxy stopped; the new primary serves" : "soli-proxy stopped");
    })();
    return stopping;
  };
  const shutdown = () => stop(false);

  let upgrading: Promise<{ pid: number; version: string }> | null = null;
  const upgrade = (): Promise<{ pid: number; version: string }> => {
    if (stopping) return Promise.reject(new Error("this proxy is shutting down"));
    if (!opts.argv) return Promise.reject(new Error("this proxy was not started from the command line; it cannot re-execute itself"));
    const argv = opts.argv;
    upgrading ??= (async () => {
      const busy = apps.busyApps();
      if (busy.length > 0) throw new Error(`an operation is in progress for ${busy.join(", ")}; upgrade once it is done`);
      log.info({ executable: selfCommand([])[0] }, "upgrade requested: starting the executable on disk beside this process");
      const next = await startSuccessor({
        argv,
        mark: { http: httpPort, https: httpsPort, admin: control.tcp?.port ?? null, routes: [...appRoutes] },
        log: () => log,
        readyTimeoutMs: readyTimeoutMs(),
        release() {
          apps.pause();
          control.stop(false);
        },
        resume() {
          control = startControl();
          apps.resume();
        },
      });
      setTimeout(() => void stop(true).then(retire), 0);
      return next;
    })().finally(() => (upgrading = null));
    return upgrading;
  };

  return {
    files,
    state,
    http: { hostname: bind.host, port: httpPort },
    https: { hostname: bind.host, port: httpsPort },
    challenges,
    workers: workers ? { pids: () => workers!.pids() } : null,
    get admin() {
      return control.tcp;
    },
    get controlSocket() {
      return control.socket;
    },
    reloadCounts: reloader.counts,
    current,
    applied: () => reloader.current,
    log: () => log,
    reload: () => reloader.reload(),
    rediscoverApps: () => apps.rediscover(),
    shutdown,
    upgrade,
    retired,
    apps: apps.port,
    appsStarted: apps.started,
    setAppRoutes,
    devAliases: apps.devAliases,
    onDevAliasesChange: apps.onDevAliasesChange,
    certificates: () => tls.certificates(),
    reloadCertificates: () => tls.reload(),
    setDevAliases: (names) => tls.setDevAliases(names),
    setAppDomains: (domains) => tls.setAppDomains(domains),
  };
}

interface DoorOptions {
  serving: Serving;
  tls: TlsRuntime;
  /** 1: this process binds; more: that many worker processes do (SPEC §15.1). */
  processes: number;
  hostname: string;
  successor: Successor | null;
  initialRoutes: readonly AppRouteInput[];
  /** The configuration the doors open with; worker processes compile it again. */
  applied: AppliedConfig;
  state: ProxyState;
  challenges: ChallengeTokens;
  log: () => Logger;
}

/**
 * Binds the proxy ports: in this process, or through worker processes that then drain with
 * `serving` (SPEC §15.1). The new primary of an upgrade binds the ports the old one really has
 * (port 0 resolved) beside it; a cold start in one process first checks they are free (SPEC §15.5).
 * Throws "cannot listen: …" with nothing left bound.
 */
async function openDoors(o: DoorOptions): Promise<{ http: number; https: number; workers: WorkerPool | null }> {
  const { settings } = o.applied;
  const httpPort = o.successor ? o.successor.mark.http : parseBind(settings.server.bind)!.port;
  const httpsPort = o.successor?.mark.https ?? settings.server.https_port;
  try {
    if (o.processes === 1) {
      const ports = o.serving.bind({ hostname: o.hostname, httpPort, httpsPort, certificates: o.tls.tlsEntries(), exclusive: !o.successor });
      return { ...ports, workers: null };
    }
    const pool = await WorkerPool.start({
      count: o.processes,
      hostname: o.hostname,
      httpPort,
      httpsPort,
      config: configPayload(o.applied, o.initialRoutes),
      certificates: o.tls.tlsEntries(),
      challenges: o.challenges,
      state: o.state,
      log: o.log,
    });
    o.serving.delegate(pool);
    return { http: pool.http.port, https: pool.https.port, workers: pool };
  } catch (err) {
    throw new Error(`cannot listen: ${(err as Error).message}`);
  }
}

/**
 * The admin providers the core always has: metrics, circuit breakers and the admin rate limit (SPEC §8, §11).
 * With workers, the metrics are theirs summed into `state` and the breakers theirs merged (SPEC §15.1).
 */
function coreAdminProviders(state: ProxyState, current: () => Snapshot, workers: WorkerPool | null): AdminProviders {
  return {
    metricsText: () => state.metrics.render(workers ? workers.inFlight() : state.inFlight),
    breakers: workers
      ? { states: () => workers.breakerStates(), reset: () => workers.resetBreakers(null) }
      : { states: () => state.breakers.snapshot(), reset: () => state.breakers.resetAll() },
    rateLimit(_req, peer) {
      const spec = current().rateLimit;
      if (spec === null) return { allowed: true, headers: {} };
      const d = state.limiter.takeLocal(state.limiter.global, clientKey(peer), spec);
      return { allowed: d.allowed, headers: d.allowed ? rateHeaders(d) : { ...rateHeaders(d), "retry-after": String(d.retryAfter) } };
    },
  };
}
