/**
 * The app supervisor (SPEC §14): the table of managed apps found in the sites directory, their
 * slots and ports, the per-app lock, the monitors, and the state files in run/. The runtime owns
 * one; the standalone CLI makes one that adopts what runs instead of restarting it.
 *
 * It never imports the runtime: routing changes leave through `onRoutes`, switches through
 * `onSwitch`, and everything observable through `events` (ARCHITECTURE §2).
 */
import { join } from "node:path";
import type { AppRouteInput } from "../config/compile.ts";
import { formatIssue, type ConfigIssue } from "../config/issues.ts";
import type { Settings } from "../config/settings.ts";
import type { Logger } from "../lib/log.ts";
import { resolveAppConfig, SLOTS, type Slot } from "./config.ts";
import { startInPlace, statusEvent, stopApp, switchSlots, type DeployHooks, type SwitchAction } from "./deploy.ts";
import { discoverApps } from "./discover.ts";
import { AppError, busy, notFound } from "./errors.ts";
import { AppEvents } from "./events.ts";
import { adoptApp } from "./adopt.ts";
import { rotateIfLarge, slotLogPath } from "./logs.ts";
import { ManagedApp, type SlotState } from "./managed.ts";
import { monitorRound, nextRetry } from "./monitor.ts";
import { PortsLock } from "./slot-ports.ts";
import { describeProgress, type ProgressListener } from "./progress.ts";
import { looksLikeOurSlot } from "./process.ts";
import { SlotRunner } from "./slots.ts";
import { readAppState, writeAppState, type AppStateFile, type SlotStatus } from "./state-files.ts";
import { DEFAULT_TIMINGS, type AppTimings } from "./timings.ts";

export type AppsSettings = Settings["apps"];

export interface SupervisorOptions {
  sitesDir: string;
  /** `run/` beside proxy.conf: ports.lock, app_state.json, logs/. */
  runDir: string;
  dev: boolean;
  log: Logger;
  /** [apps] of the current config.toml, read at each use so a reload applies. */
  settings: () => AppsSettings;
  timings?: Partial<AppTimings>;
  /** The standalone CLI: adopt recorded processes, no monitors, no failover. */
  standalone?: boolean;
  /** The app routing table changed (a slot switched, an app appeared, died or went away). */
  onRoutes?: (routes: AppRouteInput[]) => void;
  /** Routing now points at a new slot: reset its breaker, register the domain for ACME. */
  onSwitch?: (app: string, slot: Slot, port: number) => void;
  /** The docker program; `docker` on PATH unless given. */
  dockerCommand?: string;
  /** uid of this process (tests pretend); process.getuid() unless given. */
  uid?: number;
}

export class Supervisor {
  readonly events = new AppEvents();
  readonly apps = new Map<string, ManagedApp>();
  readonly runDir: string;
  readonly timings: AppTimings;
  private readonly ports: PortsLock;
  private readonly stateFile: string;
  private readonly runner: SlotRunner;
  private readonly hooks: DeployHooks;
  private readonly discoveryListeners = new Set<() => void>();
  private readonly wakers = new Set<() => void>();
  private timers: ReturnType<typeof setInterval>[] = [];
  private lastRoutes = "[]";
  /** start() or adoptRecorded() ran: app_state.json has been read and may be rewritten. */
  private started = false;
  /**
   * app_state.json records apps but the sites directory has none (a wrong --sites-dir, a missing
   * mount): the file is left alone until apps appear, so that mistake loses no state (SPEC §2).
   */
  private keepRecordedState = false;
  private closing = false;
  /** A new primary is taking over the apps (SPEC §15.5): hands off. */
  private paused = false;

  constructor(private readonly opts: SupervisorOptions) {
    this.runDir = opts.runDir;
    this.timings = { ...DEFAULT_TIMINGS, ...opts.timings };
    this.ports = new PortsLock(join(opts.runDir, "ports.lock"));
    const warning = this.ports.load();
    if (warning) opts.log.warn(warning);
    this.stateFile = join(opts.runDir, "app_state.json");
    this.runner = new SlotRunner({
      runDir: opts.runDir,
      timings: this.timings,
      log: opts.log,
      docker: { command: opts.dockerCommand ?? "docker", pollMs: this.timings.dockerPollMs },
      uid: opts.uid ?? process.getuid?.() ?? -1,
      onExit: (app, slot, reason) => this.exited(app, slot, reason),
    });
    this.hooks = {
      runner: this.runner,
      timings: this.timings,
      changed: () => this.changed(),
      emit: (event) => this.events.emit(event),
      switched: (app, slot) => opts.onSwitch?.(app.name, slot, app.slots[slot].port),
      sleep: (ms) => this.sleep(ms),
      progress: (app, p) => {
        opts.log.info({ app: app.name, ...p }, describeProgress(app.name, p));
        this.events.emit({ type: "Progress", app_name: app.name, ...p });
      },
    };
  }

  /**
   * Reads the sites directory and brings the table in line (SPEC §14.1): new apps get their ports
   * (and are started once the supervisor runs), changed ones take the new configuration, removed
   * ones are stopped and forgotten with their ports.
   */
  discover(): ConfigIssue[] {
    const { apps: found, issues } = discoverApps(this.opts.sitesDir);
    const settings = this.opts.settings();
    const defaults = { dev: this.opts.dev, defaultUser: settings.default_user, defaultGroup: settings.default_group };
    const seen = new Set<string>();
    const added: ManagedApp[] = [];
    let portsChanged = false;
    for (const entry of found) {
      const config = resolveAppConfig(entry, defaults);
      seen.add(config.name);
      const known = this.apps.get(config.name);
      if (known) {
        known.config = config;
        continue;
      }
      let ports: Record<Slot, number>;
      try {
        const had = this.ports.portOf(config.name, "blue") !== null && this.ports.portOf(config.name, "green") !== null;
        ports = { blue: this.ports.allocate(config.name, "blue", config.portRange), green: this.ports.allocate(config.name, "green", config.portRange) };
        portsChanged ||= !had;
      } catch (err) {
        issues.push({ file: entry.path, severity: "error", message: (err as Error).message });
        continue;
      }
      const app = new ManagedApp(config, ports);
      this.apps.set(config.name, app);
      added.push(app);
    }
    // A known app whose app.infos stopped validating keeps running on its last good settings,
    // with the error shown (SPEC §13 treats proxy.conf the same way); it is not removed.
    for (const app of this.apps.values()) {
      const broken = issues.filter((i) => i.severity === "error" && (i.file === app.config.dir || i.file === join(app.config.dir, "app.infos")));
      app.configError = broken.length > 0 ? broken.map(formatIssue).join("\n") : null;
      if (broken.length > 0) seen.add(app.name);
    }
    for (const [name, app] of this.apps) {
      if (seen.has(name)) continue;
      this.apps.delete(name);
      app.cancelRetry();
      this.opts.log.info({ app: name }, `app ${name} removed from ${this.opts.sitesDir}`);
      void app
        .lock(() => Promise.all(SLOTS.map((s) => this.runner.stop(app, s))))
        .then(() => {
          if (this.apps.has(name)) return; // the directory came back meanwhile: it keeps its ports
          this.ports.release(name);
          this.ports.save();
          this.changed();
        })
        .catch((err) => this.opts.log.error({ app: name, err: (err as Error).message }, `stopping removed app ${name} failed`));
    }
    if (portsChanged) this.ports.save();
    this.changed();
    if (this.started && !this.paused && !this.opts.standalone) for (const app of added) if (!app.stopped) this.startApp(app);
    for (const listener of this.discoveryListeners) listener();
    return issues;
  }

  /**
   * Start-up (SPEC §14.7): adopts every slot process app_state.json records that is still the
   * app's and answers its health check (apps/adopt.ts), stops the recorded ones that are ours but
   * do not answer, then starts each app without an adopted slot that has a script and is not
   * stopped, in its recorded slot, all in parallel. `onAdopted` runs once adoption is done (a new
   * primary is ready then, SPEC §15.5); the promise resolves when every start finished.
   */
  async start(onAdopted?: () => void): Promise<void> {
    const recorded = readAppState(this.stateFile);
    this.guardRecordedState(recorded);
    const adopted = new Set<string>();
    await Promise.all(
      Object.entries(recorded).map(async ([name, record]) => {
        const app = this.apps.get(name);
        if (!app) return Promise.all(SLOTS.map((slot) => this.stopLeftover(name, slot, record[slot].pid, record[slot].status)));
        for (const slot of SLOTS) app.slots[slot].image = record[slot].image ?? null;
        if ((await adoptApp(app, record, { runner: this.runner, log: this.opts.log })).length > 0) adopted.add(name);
      }),
    );
    this.started = true;
    this.changed();
    this.startTimers();
    onAdopted?.();
    await Promise.all([...this.apps.values()].filter((app) => !app.stopped && !adopted.has(app.name)).map((app) => this.startApp(app)));
  }

  /**
   * A hitless upgrade hands the apps to a new primary (SPEC §15.5): from `pause()` on, this one
   * neither monitors, fails over, nor writes app_state.json; `resume()` undoes it when the new
   * primary failed; `release()` lets go for good, leaving every app running.
   */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.changed();
  }

  release(): void {
    this.paused = true;
    this.closing = true;
    this.runner.closing = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    for (const wake of this.wakers) wake();
    for (const app of this.apps.values()) app.cancelRetry();
  }

  /** The standalone CLI: takes over what app_state.json says runs, without touching it. */
  adoptRecorded(): void {
    const recorded = readAppState(this.stateFile);
    this.guardRecordedState(recorded);
    for (const [name, record] of Object.entries(recorded)) {
      const app = this.apps.get(name);
      if (!app) continue;
      app.currentSlot = record.current_slot;
      app.stopped = record.stopped;
      for (const slot of SLOTS) {
        if (this.runner.adopt(app, slot, record[slot].pid, record[slot].status)) app.slots[slot].status = record[slot].status;
        app.slots[slot].image = record[slot].image ?? null;
      }
    }
    this.started = true;
  }

  /**
   * deploy, restart, rollback (SPEC §14.7); rejects with AppError not_found/busy or the failure.
   * The sites directory is read again first, so an app.infos saved a moment ago (or never seen
   * with --watch false) is what runs; an app.infos with errors refuses the deploy.
   */
  run(name: string, action: Exclude<SwitchAction, "failover">, onProgress?: ProgressListener): Promise<Slot> {
    if (this.apps.get(name)?.busy) return Promise.reject(busy(name));
    if (!this.closing) this.rediscoverFor(name);
    const app = this.apps.get(name);
    if (!app || this.closing) return Promise.reject(notFound(name));
    if (app.configError) return Promise.reject(new AppError("failed", `app.infos has errors, ${name} keeps its last good settings:\n${app.configError}`));
    const run = app.tryLock(() => switchSlots(app, this.hooks, action, onProgress));
    if (!run) return Promise.reject(busy(name));
    app.cancelRetry();
    return run;
  }

  /** Rediscovery before an operation; its issues about this app are logged, the rest are the watcher's. */
  private rediscoverFor(name: string): void {
    try {
      for (const issue of this.discover()) {
        if (!issue.file.includes(`/${name}`) && !issue.file.endsWith(name)) continue;
        this.opts.log[issue.severity === "error" ? "error" : "warn"]({ app: name }, formatIssue(issue));
      }
    } catch (err) {
      this.opts.log.error({ dir: this.opts.sitesDir, err: (err as Error).message }, "reading the sites directory failed");
    }
  }

  /** `stop` (SPEC §14.7): waits for a deploy in progress, then stops both slots. */
  stop(name: string): Promise<void> {
    const app = this.apps.get(name);
    if (!app) return Promise.reject(notFound(name));
    return app.lock(() => stopApp(app, this.hooks));
  }

  /** A request to the app's serving port failed in transport (SPEC §14.8 request failover). */
  requestFailover(name: string, port: number): void {
    const app = this.apps.get(name);
    if (app && app.routableSlot()?.port === port) this.failover(app, `request to port ${port} failed`);
  }

  /** dev mode: files of a running app changed; restart it (zero-downtime) once it is free. */
  restartForChange(name: string): void {
    const app = this.apps.get(name);
    if (!app || app.stopped || app.gaveUp || this.closing || !app.routableSlot()) return;
    if (app.busy) {
      void app.busy.catch(() => {}).then(() => this.restartForChange(name));
      return;
    }
    this.opts.log.info({ app: name }, `files of ${name} changed; restarting`);
    this.run(name, "restart").catch((err) => this.opts.log.error({ app: name, err: (err as Error).message }, `restart of ${name} failed`));
  }

  /**
   * The app routing table: every app with a domain, with its serving slot's port, or null while
   * it has none, so its hosts answer 503 rather than 421 (SPEC §14.9).
   */
  routes(): AppRouteInput[] {
    const routes: AppRouteInput[] = [];
    for (const app of this.apps.values()) {
      if (app.config.hosts.length > 0) routes.push({ name: app.name, hosts: app.config.hosts, port: app.routableSlot()?.port ?? null });
    }
    return routes;
  }

  /** The `.test` aliases of every app in --dev (SPEC §14.9), for the self-signed certificate. */
  devAliases(): string[] {
    return [...this.apps.values()]
      .map((a) => a.config.devAlias)
      .filter((a): a is string => a !== null)
      .sort();
  }

  /** Called after every discovery (the dev aliases may have changed). */
  onDiscovery(listener: () => void): () => void {
    this.discoveryListeners.add(listener);
    return () => this.discoveryListeners.delete(listener);
  }

  /** Stops every app, both slots (SPEC §15.4); their stopped flags and slots are kept. */
  async shutdown(): Promise<void> {
    this.closing = true;
    this.runner.closing = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    for (const wake of this.wakers) wake();
    const apps = [...this.apps.values()];
    for (const app of apps) app.cancelRetry();
    await Promise.all(apps.flatMap((app) => SLOTS.map((s) => this.runner.stop(app, s))));
    this.persist();
  }

  /** Persists app_state.json and republishes the routing table when it changed. */
  changed(): void {
    this.persist();
    const routes = this.routes();
    const key = JSON.stringify(routes);
    if (key === this.lastRoutes) return;
    this.lastRoutes = key;
    try {
      this.opts.onRoutes?.(routes);
    } catch (err) {
      this.opts.log.error({ err: (err as Error).message }, "publishing the app routes failed");
    }
  }

  private guardRecordedState(recorded: AppStateFile): void {
    const names = Object.keys(recorded);
    if (names.length === 0 || this.apps.size > 0) return;
    this.keepRecordedState = true;
    this.opts.log.warn(
      { dir: this.opts.sitesDir, recorded: names },
      `${this.stateFile} records ${names.length} app(s) (${names.join(", ")}) but ${this.opts.sitesDir} has none; the file is left as it is (is --sites-dir right?)`,
    );
  }

  private persist(): void {
    if (!this.started || this.paused) return; // app_state.json still holds what start() must read; or a new primary took over
    if (this.keepRecordedState) {
      if (this.apps.size === 0) return;
      this.keepRecordedState = false;
    }
    const state: AppStateFile = {};
    for (const app of this.apps.values()) state[app.name] = app.record();
    try {
      writeAppState(this.stateFile, state);
    } catch (err) {
      this.opts.log.error({ file: this.stateFile, err: (err as Error).message }, "cannot write app_state.json");
    }
  }

  private startApp(app: ManagedApp): Promise<void> {
    if (!app.config.startScript && !app.config.docker) return Promise.resolve();
    const run = app.tryLock(() => startInPlace(app, this.hooks));
    if (!run) return Promise.resolve();
    return run.then(
      () => this.opts.log.info({ app: app.name, slot: app.currentSlot }, `app ${app.name} running`),
      (err) => this.opts.log.error({ app: app.name, err: (err as Error).message }, `app ${app.name} did not start`),
    );
  }

  /** A slot process ended on its own. The current slot's death starts the crash policy. */
  private exited(app: ManagedApp, slot: SlotState, reason: string): void {
    // the standalone CLI reports a failed start itself; a log line would say it twice
    if (!this.opts.standalone) this.opts.log.warn({ app: app.name, slot: slot.slot, reason }, `app ${app.name} slot ${slot.slot} ${reason}`);
    this.changed();
    this.events.emit(statusEvent(app, slot.slot, "Failed"));
    if (this.closing || this.opts.standalone || app.stopped || slot.slot !== app.currentSlot) return;
    app.lastError = `${app.name} slot ${slot.slot} ${reason}`;
    const lived = slot.lastStarted ? Date.now() - slot.lastStarted.getTime() : 0;
    const delay = this.countCrash(app, lived);
    if (delay === null) return;
    if (app.busy) {
      // a failover or deploy already runs and may switch away; retry only if it did not
      void app.busy
        .catch(() => {})
        .then(() => {
          if (app.current === slot && !slot.proc && !app.stopped) this.retryAfter(app, delay);
        });
      return;
    }
    this.retryAfter(app, delay);
  }

  /** A failover that did not come up counts like an exit, and is retried with back-off. */
  private crashed(app: ManagedApp, livedMs: number): void {
    const delay = this.countCrash(app, livedMs);
    if (delay !== null) this.retryAfter(app, delay);
  }

  /** Counts an unexpected exit; null once the app gave up (SPEC §14.8). */
  private countCrash(app: ManagedApp, livedMs: number): number | null {
    const delay = nextRetry(app, livedMs, this.timings);
    if (delay === null) {
      this.opts.log.error(
        { app: app.name, exits: app.unexpectedExits },
        `${app.name} failed ${app.unexpectedExits} times in a row; it stays Failed until the next deploy`,
      );
      this.changed();
    }
    return delay;
  }

  private retryAfter(app: ManagedApp, delayMs: number): void {
    if (this.closing) return;
    app.cancelRetry();
    app.retryTimer = setTimeout(() => {
      app.retryTimer = null;
      this.failover(app, "unexpected exit");
    }, delayMs);
  }

  /** A deploy toward the other slot, in the background, unless one runs or a retry is pending. */
  private failover(app: ManagedApp, why: string): void {
    if (this.closing || this.paused || this.opts.standalone || app.stopped || app.gaveUp || app.retryTimer) return;
    const run = app.tryLock(() => switchSlots(app, this.hooks, "failover"));
    if (!run) return;
    this.opts.log.warn({ app: app.name, why }, `failing over ${app.name}: ${why}`);
    run.then(
      (slot) => this.opts.log.info({ app: app.name, slot }, `app ${app.name} restarted in slot ${slot}`),
      (err) => {
        this.opts.log.error({ app: app.name, err: (err as Error).message }, `failover of ${app.name} failed`);
        this.crashed(app, 0);
      },
    );
  }

  /**
   * A recorded app whose directory is gone: its command is unknown, so its pid cannot be told
   * from another program that reused it; it is left alone with a warning (SPEC §14.7).
   */
  private async stopLeftover(name: string, slot: Slot, pid: number | null, _status: SlotStatus): Promise<void> {
    if (pid === null || !looksLikeOurSlot(pid)) return;
    this.opts.log.warn(
      { app: name, slot, pid },
      `app ${name} is no longer in ${this.opts.sitesDir}; its recorded PID ${pid} is left alone (stop it yourself if it is still ${name})`,
    );
  }

  /** Names of the apps with a deploy, restart, rollback, failover or stop in progress. */
  busyApps(): string[] {
    return [...this.apps.values()].filter((a) => a.busy !== null).map((a) => a.name);
  }

  private startTimers(): void {
    if (this.opts.standalone) return;
    const monitor = setInterval(() => {
      if (this.paused) return;
      void monitorRound(this.apps.values(), {
        log: this.opts.log,
        timeoutMs: this.timings.healthTimeoutMs,
        threshold: () => this.opts.settings().health_failure_threshold,
        changed: () => this.changed(),
        emit: (event) => this.events.emit(event),
        failover: (app, why) => this.failover(app, why),
      }).catch((err) => this.opts.log.error({ err: (err as Error).message }, "health monitor round failed"));
    }, this.timings.monitorIntervalMs);
    const logs = setInterval(() => {
      for (const app of this.apps.values()) {
        for (const slot of SLOTS) if (app.slots[slot].proc) rotateIfLarge(slotLogPath(this.runDir, app.name, slot), this.timings.logRotateBytes);
      }
    }, this.timings.logCheckMs);
    for (const timer of [monitor, logs]) (timer as { unref?: () => void }).unref?.();
    this.timers.push(monitor, logs);
  }

  /** A drain delay that shutdown cuts short. */
  private sleep(ms: number): Promise<void> {
    if (this.closing || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }
}
