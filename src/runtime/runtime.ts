/**
 * The life of the proxy process: load and compile the configuration, open the listeners, swap
 * snapshots on reload, shut down gracefully. The only module that wires the others together.
 */
import type { Server } from "bun";
import { allRoutes, compile } from "../config/compile.ts";
import { ConfigError, formatIssue, hasErrors, type ConfigIssue } from "../config/issues.ts";
import { configFiles, loadConfig, type ConfigFiles } from "../config/load.ts";
import type { Snapshot } from "../config/snapshot.ts";
import { createLogger, type Logger } from "../lib/log.ts";
import { parseBind } from "../lib/net.ts";
import { createFetchHandler } from "../server/http.ts";
import { listen } from "../server/listen.ts";
import { ProxyState } from "../state/proxy-state.ts";
import { ChallengeTokens } from "../tls/challenge.ts";
import { TlsRuntime, type CertificateInfo, type CertificateReload } from "./tls.ts";
import { resolve } from "node:path";

export interface ProxyOptions {
  confPath: string;
  dev?: boolean;
  watch?: boolean;
  sitesDir?: string;
  /** Use this logger instead of one built from [logging] (tests). */
  logger?: Logger;
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
  const challenges = new ChallengeTokens();
  const servers: Pick<Server<unknown>, "stop">[] = [];
  let tls: TlsRuntime;
  const stopAll = () => Promise.all(servers.map((s) => s.stop(true))).then(() => undefined);
  try {
    const plain = listen({
      hostname: bind.host,
      port: bind.port,
      idleTimeout: settings.limits.keep_alive_timeout,
      fetch: createFetchHandler({ current, state, log: () => log, scheme: "http", challenges }),
    });
    servers.push(plain);

    tls = await TlsRuntime.start({
      snapshot,
      challenges,
      log: () => log,
      listener: {
        hostname: bind.host,
        port: settings.server.https_port,
        idleTimeout: settings.limits.keep_alive_timeout,
        fetch: createFetchHandler({ current, state, log: () => log, scheme: "https", challenges }),
      },
    });
    servers.push(tls.listener);
  } catch (err) {
    await stopAll();
    throw new Error(`cannot listen: ${(err as Error).message}`);
  }
  const plainServer = servers[0] as Server<unknown>;
  log.info({ http: `${bind.host}:${plainServer.port}`, https: `${bind.host}:${tls.listener.port}`, dev, version: snapshot.version }, "soli-proxy listening");
  tls.startBackground(opts.watch ?? false, () => log);

  let reloading: Promise<ReloadResult> | null = null;
  const reload = async (): Promise<ReloadResult> => {
    const next = loadConfig(files);
    if (hasErrors(next.issues) || !next.conf || !next.settings) {
      log.error({ issues: next.issues.map(formatIssue) }, `config reload rejected, keeping v${snapshot.version}`);
      return { ok: false, issues: next.issues };
    }
    const compiled = compile({ version: snapshot.version + 1, dev, conf: next.conf, settings: next.settings, files });
    snapshot = compiled; // the swap: every request from here on sees the new configuration
    tls.configChanged(compiled);
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
      tls.stopBackground();
      const grace = snapshot.limits.shutdownGraceMs;
      const drained = Promise.all(servers.map((s) => s.stop(false)));
      const timer = new Promise<void>((r) => setTimeout(r, grace).unref?.());
      await Promise.race([drained, timer]);
      await stopAll();
      state.pool.closeIdle();
      log.info("soli-proxy stopped");
    })();
    return stopping;
  };

  return {
    files,
    state,
    http: { hostname: bind.host, port: plainServer.port ?? 0 },
    https: { hostname: bind.host, port: tls.listener.port },
    current,
    log: () => log,
    reload: () => (reloading ??= reload().finally(() => (reloading = null))),
    shutdown,
    certificates: () => tls.certificates(),
    reloadCertificates: () => tls.reload(),
    setDevAliases: (names) => tls.setDevAliases(names),
    setAppDomains: (domains) => tls.setAppDomains(domains),
  };
}

/** `file:<path>` outputs are relative to the config dir, like every path in config.toml (SPEC §1). */
function resolveOutput(output: string, dir: string): string {
  return output.startsWith("file:") ? `file:${resolve(dir, output.slice(5))}` : output;
}
