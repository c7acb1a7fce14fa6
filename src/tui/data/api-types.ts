/** The admin API's JSON as the TUI reads it (SPEC §10, §11.2, §11.4). */
import type { Rule } from "../../config/model.ts";
import type { AppTraffic } from "../../state/app-metrics.ts";

export type { AppTraffic, Rule };
export type SlotName = "blue" | "green";
export type SlotStatus = "Stopped" | "Starting" | "Running" | "Unhealthy" | "Failed";

export interface StatusData {
  version: string;
  uptime_secs: number;
  route_count: number;
  app_count: number;
  bind: string;
  https_port: number | null;
  tls_mode: string;
  admin_bind: string | null;
  config_version: number;
  last_reload_error: string | null;
}

export interface SlotInfo {
  name: string;
  slot: SlotName;
  port: number;
  pid: number | null;
  status: SlotStatus;
  last_started: string | null;
}

export interface AppInfo {
  config: { name: string; domain?: string | null; health_check?: string; [key: string]: unknown };
  path: string;
  current_slot: SlotName;
  blue: SlotInfo;
  green: SlotInfo;
  /** app.infos errors while the app runs on its last good settings (issue 15 item 10). */
  config_error?: string | null;
}

export interface ProcessUsage {
  memory_rss_bytes: number | null;
  cpu_percent: number | null;
}

export type SystemMetrics = Record<string, Partial<Record<SlotName, ProcessUsage>>>;

export interface BreakerInfo {
  state: "closed" | "open" | "half_open";
  consecutive_failures: number;
  consecutive_successes: number;
}

/** `GET /events/apps` (SPEC §11.2). */
export type AppEvent =
  | { type: "StatusChanged"; app_name: string; slot: SlotName; status: string }
  | { type: "Deployed"; app_name: string; slot: SlotName }
  | { type: "Stopped"; app_name: string; slot: SlotName }
  | { type: "Restarted"; app_name: string }
  | ({ type: "Progress"; app_name: string } & DeployProgress);

/** A phase of a deploy, restart or rollback (SPEC §14.7 "Progress"). */
export type DeployProgress =
  | { phase: "starting"; slot: SlotName; port: number }
  | { phase: "health"; attempt: number; elapsed_secs: number; timeout_secs: number; last_error: string | null }
  | { phase: "switched"; slot: SlotName }
  | { phase: "draining"; seconds: number }
  | { phase: "done"; slot: SlotName; elapsed_secs: number }
  | { phase: "failed"; error: string };

export interface AppLogs {
  app: string;
  blue: string;
  green: string;
}
