/**
 * `run/app_state.json` (SPEC §14.6): `{"<app>":{"current_slot","stopped","blue":{"port","pid",
 * "status"},"green":{…}}}`, rewritten atomically on every change and read by the CLI and the TUI.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { writeFileAtomic } from "../lib/atomic-write.ts";
import type { Slot } from "./config.ts";

export type SlotStatus = "Stopped" | "Starting" | "Running" | "Unhealthy" | "Failed";
const STATUSES: readonly string[] = ["Stopped", "Starting", "Running", "Unhealthy", "Failed"];

export interface SlotRecord {
  port: number;
  pid: number | null;
  status: SlotStatus;
  /** Docker mode: the image ID the slot last ran (rollback runs it again); absent otherwise. */
  image?: string;
}

export interface AppRecord {
  current_slot: Slot;
  stopped: boolean;
  blue: SlotRecord;
  green: SlotRecord;
}

export type AppStateFile = Record<string, AppRecord>;

/** The recorded state; entries that do not have the expected shape are left out. */
export function readAppState(file: string): AppStateFile {
  if (!existsSync(file)) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return {};
  }
  const out: AppStateFile = {};
  if (!raw || typeof raw !== "object") return out;
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    const v = value as Partial<AppRecord> | null;
    if (!v || (v.current_slot !== "blue" && v.current_slot !== "green")) continue;
    out[name] = { current_slot: v.current_slot, stopped: v.stopped === true, blue: slotRecord(v.blue), green: slotRecord(v.green) };
  }
  return out;
}

function slotRecord(value: unknown): SlotRecord {
  const v = (value ?? {}) as Partial<SlotRecord>;
  return {
    port: typeof v.port === "number" ? v.port : 0,
    pid: typeof v.pid === "number" && v.pid > 0 ? v.pid : null,
    status: typeof v.status === "string" && STATUSES.includes(v.status) ? v.status : "Stopped",
    // an image ID, validated like any input before it reaches a docker argv
    ...(typeof v.image === "string" && /^sha256:[0-9a-f]{64}$/.test(v.image) ? { image: v.image } : {}),
  };
}

export function writeAppState(file: string, state: AppStateFile): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileAtomic(file, JSON.stringify(state, null, 2) + "\n", 0o600);
}
