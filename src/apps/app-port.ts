/**
 * AppPort: what the admin API (SPEC §11.2 apps endpoints and `/events/apps`) and the control
 * socket may do with managed apps. The admin gets this port, never the runtime or the supervisor
 * (ARCHITECTURE §2). Every method answers with the `data` object of SPEC §11.2 or throws an
 * AppError whose kind maps to the status (not_found 404, busy 409, failed 500) and whose message is
 * the SPEC error text.
 */
import type { AppMetrics, AppTraffic } from "../state/app-metrics.ts";
import { SLOTS, type Slot } from "./config.ts";
import type { ProgressListener } from "./progress.ts";
import { AppError, notFound } from "./errors.ts";
import type { AppEventListener } from "./events.ts";
import { slotLogPath, tailFile } from "./logs.ts";
import type { ManagedApp, SlotState } from "./managed.ts";
import { ProcStats, type ProcessUsage } from "./proc-stats.ts";
import type { SlotStatus } from "./state-files.ts";
import type { Supervisor } from "./supervisor.ts";

/** SPEC §11.4 Slot. */
export interface SlotInfo {
  name: string;
  slot: Slot;
  port: number;
  pid: number | null;
  status: SlotStatus;
  last_started: string | null;
}

/** SPEC §11.4 AppInfo, plus the supervision fields that make a crash loop visible. */
export interface AppInfo {
  config: {
    name: string;
    domain: string | null;
    start_script: string | null;
    stop_script: string | null;
    health_check: string;
    health_timeout: number;
    graceful_timeout: number;
    drain_delay: number;
    port_range_start: number;
    port_range_end: number;
    workers: number;
    user: string | null;
    group: string | null;
    docker_image: string | null;
    docker_options: string | null;
    docker_network: string;
  };
  path: string;
  current_slot: Slot;
  blue: SlotInfo;
  green: SlotInfo;
  /** `stop` was requested: not started or monitored until the next deploy. */
  stopped: boolean;
  /** Consecutive unexpected exits (SPEC §14.8). */
  unexpected_exits: number;
  /** More than 3 in a row: the app stays Failed until a successful deploy. */
  gave_up: boolean;
  /** The last deploy failure or unexpected exit, null after a successful deploy. */
  last_error: string | null;
  /** app.infos errors (file:line: message) while the app runs on its last good settings; null when valid. */
  config_error: string | null;
}

export interface SwitchResult {
  message: "Deployment started" | "Restart started" | "Rollback started";
  app: string;
  slot: Slot;
}

export interface AppPort {
  /** GET /apps: every app except `_admin`. */
  list(): AppInfo[];
  /** GET /apps/{name}; `_admin` included. */
  get(name: string): AppInfo;
  /** POST /apps/{name}/deploy|restart|rollback: resolves once the new slot serves and the old one is stopped. */
  deploy(name: string, onProgress?: ProgressListener): Promise<SwitchResult>;
  restart(name: string, onProgress?: ProgressListener): Promise<SwitchResult>;
  rollback(name: string, onProgress?: ProgressListener): Promise<SwitchResult>;
  /** POST /apps/{name}/stop. */
  stop(name: string): Promise<{ message: "App stopped"; app: string }>;
  /** GET /apps/{name}/logs: last 256 KiB of each slot log, partial first line dropped, missing ⇒ "". */
  logs(name: string): { app: string; blue: string; green: string };
  /** GET /apps/{name}/metrics: the per-app object, or null before its first request. */
  metrics(name: string): AppTraffic | null;
  /** GET /app-metrics: apps that had traffic. */
  allMetrics(): Record<string, AppTraffic>;
  /** GET /app-metrics/system. */
  systemMetrics(): Record<string, Record<Slot, ProcessUsage>>;
  /** GET /events/apps: every app event from now on; returns the unsubscribe function. */
  subscribe(listener: AppEventListener): () => void;
  /** How many event listeners are subscribed now (a vanished SSE client must leave none). */
  subscribers(): number;
  /** Port of the app's serving slot, null when it has none (the `_admin` passthrough, SPEC §11.2). */
  servingPort(name: string): number | null;
  /** Whether a deploy, restart, rollback or stop of the app holds its lock now. */
  busy(name: string): boolean;
  /** Whether an app of that name exists (`_admin`: 404 vs 502 in the passthrough). */
  has(name: string): boolean;
}

export function createAppPort(supervisor: Supervisor, traffic: AppMetrics): AppPort {
  const find = (name: string): ManagedApp => {
    const app = supervisor.apps.get(name);
    if (!app) throw notFound(name);
    return app;
  };
  const switchTo = async (name: string, action: "deploy" | "restart" | "rollback", onProgress?: ProgressListener): Promise<SwitchResult> => {
    const label = { deploy: "Deployment", restart: "Restart", rollback: "Rollback" }[action];
    try {
      const slot = await supervisor.run(name, action, onProgress);
      return { message: `${label} started` as SwitchResult["message"], app: name, slot };
    } catch (err) {
      throw err instanceof AppError ? err : new AppError("failed", `${label} failed: ${(err as Error).message}`);
    }
  };
  const stats = new ProcStats();
  return {
    list: () => [...supervisor.apps.values()].filter((a) => a.name !== "_admin").map(appInfo),
    get: (name) => appInfo(find(name)),
    deploy: (name, onProgress) => switchTo(name, "deploy", onProgress),
    restart: (name, onProgress) => switchTo(name, "restart", onProgress),
    rollback: (name, onProgress) => switchTo(name, "rollback", onProgress),
    async stop(name) {
      find(name);
      try {
        await supervisor.stop(name);
      } catch (err) {
        throw err instanceof AppError ? err : new AppError("failed", `Stop failed: ${(err as Error).message}`);
      }
      return { message: "App stopped", app: name };
    },
    logs(name) {
      const app = find(name);
      return {
        app: name,
        blue: tailFile(slotLogPath(supervisor.runDir, app.name, "blue")),
        green: tailFile(slotLogPath(supervisor.runDir, app.name, "green")),
      };
    },
    metrics: (name) => traffic.forPorts(slotPorts(find(name))),
    allMetrics() {
      const out: Record<string, AppTraffic> = {};
      for (const app of supervisor.apps.values()) {
        const m = traffic.forPorts(slotPorts(app));
        if (m) out[app.name] = m;
      }
      return out;
    },
    systemMetrics() {
      const out: Record<string, Record<Slot, ProcessUsage>> = {};
      const live = new Set<number>();
      for (const app of supervisor.apps.values()) {
        for (const s of SLOTS) if (app.slots[s].pid !== null) live.add(app.slots[s].pid!);
        out[app.name] = { blue: stats.sample(app.slots.blue.pid), green: stats.sample(app.slots.green.pid) };
      }
      stats.prune(live);
      return out;
    },
    subscribe: (listener) => supervisor.events.subscribe(listener),
    subscribers: () => supervisor.events.listenerCount,
    servingPort: (name) => supervisor.apps.get(name)?.routableSlot()?.port ?? null,
    has: (name) => supervisor.apps.has(name),
    busy: (name) => supervisor.apps.get(name)?.busy != null,
  };
}

const slotPorts = (app: ManagedApp) => [app.slots.blue.port, app.slots.green.port];

/** SPEC §11.4 AppInfo of one app. */
export function appInfo(app: ManagedApp): AppInfo {
  const c = app.config;
  return {
    config: {
      name: c.name,
      domain: c.domain,
      start_script: c.startScript,
      stop_script: c.stopScript,
      health_check: c.healthCheck,
      health_timeout: c.healthTimeoutSecs,
      graceful_timeout: c.gracefulTimeoutSecs,
      drain_delay: c.drainDelaySecs,
      port_range_start: c.portRange[0],
      port_range_end: c.portRange[1],
      workers: c.workers,
      user: c.user,
      group: c.group,
      docker_image: c.docker?.image ?? null,
      docker_options: c.infos.docker_options ?? null,
      docker_network: c.infos.docker_network,
    },
    path: c.dir,
    current_slot: app.currentSlot,
    blue: slotInfo(app.name, app.slots.blue),
    green: slotInfo(app.name, app.slots.green),
    stopped: app.stopped,
    unexpected_exits: app.unexpectedExits,
    gave_up: app.gaveUp,
    last_error: app.lastError,
    config_error: app.configError,
  };
}

/** SPEC §11.4 Slot. */
export function slotInfo(name: string, slot: SlotState): SlotInfo {
  return { name, slot: slot.slot, port: slot.port, pid: slot.pid, status: slot.status, last_started: slot.lastStarted?.toISOString() ?? null };
}
