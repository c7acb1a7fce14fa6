/**
 * The Apps screen's rows: the admin API's view of each app (SPEC §11.4) with CPU/RSS and traffic,
 * or, while no proxy answers, what run/app_state.json, run/ports.lock and the sites directory
 * say (SPEC §14.6, §16.5).
 */
import type { AppEvent, AppInfo, AppTraffic, DeployProgress, SlotName, SlotStatus, SystemMetrics } from "../data/api-types.ts";
import { rates, type Point } from "./traffic.ts";

/** What the state files and the sites directory say, read each tick. */
export interface AppFiles {
  /** run/app_state.json, as written by the proxy. */
  state: Record<string, { current_slot: SlotName; stopped: boolean; blue: FileSlot; green: FileSlot }>;
  /** run/ports.lock entries. */
  ports: { app_name: string; slot: SlotName; port: number }[];
  /** App names found in the sites directory (app.infos `name`, else the directory name). */
  sites: string[];
}

export interface FileSlot {
  port: number;
  pid: number | null;
  status: SlotStatus;
}

export interface SlotRow {
  slot: SlotName;
  port: number | null;
  pid: number | null;
  status: SlotStatus;
  cpuPercent: number | null;
  rssBytes: number | null;
  lastStarted: string | null;
}

export interface AppRow {
  name: string;
  domain: string;
  currentSlot: SlotName;
  /** The current slot's status, or `Stopped` for an app stopped on purpose. */
  status: SlotStatus;
  slots: Record<SlotName, SlotRow>;
  /** Requests per second in the newest poll interval, null when unknown. */
  reqPerSec: number | null;
  /** Requests per second per poll, oldest first (up to the history kept). */
  history: number[];
  /** Where the row came from: the running proxy, or the state files alone. */
  source: "proxy" | "files";
  /** app.infos errors (file:line: message) while the app runs on its last good settings. */
  configError?: string;
}

export const SLOTS: readonly SlotName[] = ["blue", "green"];

export interface AppsInput {
  apps: readonly AppInfo[] | null;
  system: SystemMetrics | null;
  /** Each app's `requests` counter over the recent polls. */
  traffic: ReadonlyMap<string, readonly Point[]>;
  files: AppFiles;
}

export function appRows(input: AppsInput): AppRow[] {
  const rows = input.apps ? input.apps.map((app) => fromApi(app, input.system)) : fromFiles(input.files);
  for (const row of rows) {
    const history = rates(input.traffic.get(row.name) ?? []);
    row.history = history;
    // An app the proxy reports without traffic figures has had no request yet.
    row.reqPerSec = history.length > 0 ? history[history.length - 1]! : row.source === "proxy" ? 0 : null;
  }
  return rows.sort((a, b) => a.name.localeCompare(b.name));
}

function fromApi(app: AppInfo, system: SystemMetrics | null): AppRow {
  const usage = system?.[app.config.name];
  const slot = (s: SlotName): SlotRow => ({
    slot: s,
    port: app[s].port,
    pid: app[s].pid,
    status: app[s].status,
    cpuPercent: usage?.[s]?.cpu_percent ?? null,
    rssBytes: usage?.[s]?.memory_rss_bytes ?? null,
    lastStarted: app[s].last_started,
  });
  return {
    name: app.config.name,
    domain: app.config.domain ?? "",
    currentSlot: app.current_slot,
    status: app[app.current_slot].status,
    slots: { blue: slot("blue"), green: slot("green") },
    reqPerSec: null,
    history: [],
    source: "proxy",
    ...(app.config_error ? { configError: app.config_error } : {}),
  };
}

function fromFiles(files: AppFiles): AppRow[] {
  const names = new Set([...Object.keys(files.state), ...files.ports.map((p) => p.app_name), ...files.sites]);
  return [...names].map((name) => {
    const state = files.state[name];
    const slot = (s: SlotName): SlotRow => ({
      slot: s,
      port: state?.[s].port || files.ports.find((p) => p.app_name === name && p.slot === s)?.port || null,
      pid: state?.[s].pid ?? null,
      status: state?.[s].status ?? "Stopped",
      cpuPercent: null,
      rssBytes: null,
      lastStarted: null,
    });
    const currentSlot = state?.current_slot ?? "blue";
    return {
      name,
      domain: "",
      currentSlot,
      status: state && !state.stopped ? state[currentSlot].status : "Stopped",
      slots: { blue: slot("blue"), green: slot("green") },
      reqPerSec: null,
      history: [],
      source: "files" as const,
    };
  });
}

/** The `requests` counter of every app in an app-metrics answer. */
export function appRequestCounters(metrics: Record<string, AppTraffic> | null): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, m] of Object.entries(metrics ?? {})) if (typeof m?.requests === "number") out.set(name, m.requests);
  return out;
}

export type AppAction = "deploy" | "restart" | "stop" | "rollback";

/** The Enter menu of the Apps screen (SPEC §16.5). */
export const APP_MENU: readonly { label: string; action: AppAction | "logs" }[] = [
  { label: "Deploy", action: "deploy" },
  { label: "Restart", action: "restart" },
  { label: "Stop", action: "stop" },
  { label: "Rollback", action: "rollback" },
  { label: "View Logs", action: "logs" },
];

/** The log viewer's lines: both slots, each under a `=== <app> (<slot>) ===` heading like `soli-proxy logs`. */
export function logLines(app: string, logs: { blue: string; green: string }): string[] {
  const out: string[] = [];
  for (const slot of SLOTS) {
    out.push(`=== ${app} (${slot}) ===`);
    const text = logs[slot].replace(/\n$/, "");
    if (text !== "") out.push(...text.split("\n"));
  }
  return out;
}

/** One short phrase for a deploy phase, for the Apps screen (SPEC §14.7, §16.5). */
export function describePhase(p: DeployProgress): string {
  switch (p.phase) {
    case "starting":
      return `starting ${p.slot} on port ${p.port}`;
    case "health":
      return `health check ${p.attempt}, ${p.elapsed_secs}s of ${p.timeout_secs}s${p.last_error ? ` (${p.last_error})` : ", healthy"}`;
    case "switched":
      return `switched to ${p.slot}`;
    case "draining":
      return `draining the old slot ${p.seconds}s`;
    case "done":
      return `done in ${p.elapsed_secs}s, ${p.slot} serves`;
    case "failed":
      return `failed: ${p.error}`;
  }
}

/**
 * The phase of each app's deploy in progress, from the event feed: the newest Progress event of
 * an app, as long as it is not the final `done` or `failed`.
 */
export function runningPhases(events: readonly { event: AppEvent }[]): Record<string, string> {
  const latest = new Map<string, DeployProgress>();
  for (const { event } of events) if (event.type === "Progress") latest.set(event.app_name, event);
  const out: Record<string, string> = {};
  for (const [app, p] of latest) if (p.phase !== "done" && p.phase !== "failed") out[app] = describePhase(p);
  return out;
}
