/**
 * Wiring of the managed apps into the running proxy (SPEC §14): the supervisor discovers the
 * sites directory after the listeners are up, starts the apps in the background, publishes the
 * app routing table through `publish` (the runtime recompiles and swaps the snapshot), feeds the
 * request-failover hook and the per-app metrics of ProxyState, and watches the sites directory.
 */
import { mkdirSync } from "node:fs";
import { basename } from "node:path";
import { createAppPort, type AppPort } from "../apps/app-port.ts";
import { watchSites } from "../apps/sites-watch.ts";
import { Supervisor } from "../apps/supervisor.ts";
import type { AppTimings } from "../apps/timings.ts";
import type { AppRouteInput } from "../config/compile.ts";
import { formatIssue } from "../config/issues.ts";
import type { Settings } from "../config/settings.ts";
import type { Logger } from "../lib/log.ts";
import type { ProxyState } from "../state/proxy-state.ts";

export interface ManagedAppsOptions {
  sitesDir: string;
  /** run/: ports.lock, app_state.json, logs/ (lib/run-location.ts). */
  runDir: string;
  dev: boolean;
  watch: boolean;
  log: Logger;
  state: ProxyState;
  /** [apps] as first loaded; `current` gives the live one after reloads. */
  settings: Settings["apps"];
  current: () => Settings["apps"];
  publish: (routes: readonly AppRouteInput[]) => void;
  /** Routing switched to a new slot (SPEC §14.7 step 4): reset its breaker, register the domain for ACME. */
  onSwitch?: (app: string, slot: "blue" | "green", port: number) => void;
  timings?: Partial<AppTimings>;
}

export interface ManagedApps {
  readonly port: AppPort;
  /** Settles once the apps found at start-up have been started (or failed to). */
  readonly started: Promise<void>;
  /** Settles once the recorded app processes have been adopted or stopped (SPEC §14.7). */
  readonly adopted: Promise<void>;
  /** Hitless upgrade (SPEC §15.5): hand the apps over (pause), take them back (resume), let go (release). */
  pause(): void;
  resume(): void;
  release(): void;
  /** Apps with an operation in progress. */
  busyApps(): string[];
  devAliases(): string[];
  onDevAliasesChange(listener: (aliases: string[]) => void): () => void;
  /** Reads the sites directory again now (SIGHUP; also the only way with --watch false). */
  rediscover(): void;
  /** Stops watching and stops every app, both slots (SPEC §15.4). */
  stop(): Promise<void>;
}

export function startManagedApps(opts: ManagedAppsOptions): ManagedApps {
  const { log, state, sitesDir } = opts;
  try {
    mkdirSync(sitesDir, { recursive: true }); // SPEC §2: created if missing
  } catch (err) {
    log.error({ dir: sitesDir, err: (err as Error).message }, "cannot create the sites directory");
  }
  log.info({ dir: sitesDir }, `managed apps from ${sitesDir}`);
  const apps = new Supervisor({
    sitesDir,
    runDir: opts.runDir,
    dev: opts.dev,
    log,
    settings: opts.current,
    timings: { monitorIntervalMs: opts.settings.health_check_interval_secs * 1000, ...opts.timings },
    onRoutes: opts.publish,
    onSwitch: opts.onSwitch,
  });
  state.appFailover = (name, port) => apps.requestFailover(name, port);

  const aliasListeners = new Set<(aliases: string[]) => void>();
  let aliases = "";
  apps.onDiscovery(() => {
    state.appMetrics.prune(new Set([...apps.apps.values()].flatMap((a) => [a.slots.blue.port, a.slots.green.port])));
    const now = apps.devAliases();
    if (now.join(",") === aliases) return;
    aliases = now.join(",");
    for (const listener of aliasListeners) listener(now);
  });
  const rediscover = () => {
    try {
      for (const issue of apps.discover()) log[issue.severity === "error" ? "error" : "warn"](formatIssue(issue));
    } catch (err) {
      log.error({ dir: sitesDir, err: (err as Error).message }, "discovering apps failed");
    }
  };
  rediscover();
  let adoptedNow: () => void = () => {};
  const adopted = new Promise<void>((resolve) => (adoptedNow = resolve));
  const started = apps
    .start(adoptedNow)
    .catch((err) => log.error({ err: (err as Error).message }, "starting apps failed"))
    .finally(adoptedNow);
  const stopWatching = opts.watch
    ? watchSites(
        sitesDir,
        ({ touched }) => {
          rediscover();
          // --dev: an app whose own files changed restarts, zero-downtime (SPEC §14.8)
          if (opts.dev) for (const app of apps.apps.values()) if (touched.has(basename(app.config.dir))) apps.restartForChange(app.name);
        },
        500,
        (err) => log.warn({ dir: sitesDir, err: err.message }, "cannot watch the sites directory"),
      )
    : () => {};

  return {
    port: createAppPort(apps, state.appMetrics),
    started,
    adopted,
    pause: () => apps.pause(),
    resume: () => apps.resume(),
    release() {
      stopWatching();
      apps.release();
    },
    busyApps: () => apps.busyApps(),
    devAliases: () => apps.devAliases(),
    rediscover,
    onDevAliasesChange(listener) {
      aliasListeners.add(listener);
      return () => aliasListeners.delete(listener);
    },
    async stop() {
      stopWatching();
      await apps.shutdown();
    },
  };
}
