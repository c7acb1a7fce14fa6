/**
 * Progress of a deploy, restart or rollback (SPEC §14.7 "Progress"): the phases a long operation
 * goes through, in order. They go to the log, to `/events/apps` as `{"type":"Progress","app_name",…}`
 * and, when asked for, to the caller as SSE (SPEC §11.2); the CLI renders them (§16.1).
 */
import type { Slot } from "./config.ts";

export type Progress =
  | { readonly phase: "starting"; readonly slot: Slot; readonly port: number }
  | { readonly phase: "health"; readonly attempt: number; readonly elapsed_secs: number; readonly timeout_secs: number; readonly last_error: string | null }
  | { readonly phase: "switched"; readonly slot: Slot }
  | { readonly phase: "draining"; readonly seconds: number }
  | { readonly phase: "done"; readonly slot: Slot; readonly elapsed_secs: number }
  | { readonly phase: "failed"; readonly error: string };

export type ProgressPhase = Progress["phase"];
export const PROGRESS_PHASES: readonly ProgressPhase[] = ["starting", "health", "switched", "draining", "done", "failed"];

export type ProgressListener = (progress: Progress) => void;

/** Seconds with one decimal: enough to see a health wait advance, short on a status line. */
export const secs = (ms: number): number => Math.round(ms / 100) / 10;

/** One plain line for a person (the log message, the CLI without a terminal). */
export function describeProgress(app: string, p: Progress): string {
  switch (p.phase) {
    case "starting":
      return `${app}: starting slot ${p.slot} on port ${p.port}`;
    case "health":
      return `${app}: health check ${p.attempt} (${p.elapsed_secs}s of ${p.timeout_secs}s): ${p.last_error ?? "healthy"}`;
    case "switched":
      return `${app}: traffic switched to slot ${p.slot}`;
    case "draining":
      return `${app}: draining the old slot for ${p.seconds}s`;
    case "done":
      return `${app}: done, slot ${p.slot} serves (${p.elapsed_secs}s)`;
    case "failed":
      return `${app}: failed: ${p.error}`;
  }
}
