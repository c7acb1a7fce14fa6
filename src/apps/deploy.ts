/**
 * Blue/green (SPEC §14.7). deploy, restart, rollback and failover all start the slot opposite the
 * current one, wait for its health check, switch routing to it in one step, let the old slot drain
 * and stop it. A slot that never becomes healthy is stopped and the old one keeps serving.
 * Callers hold the app's lock.
 */
import { otherSlot, type Slot } from "./config.ts";
import type { AppEvent, EventStatus } from "./events.ts";
import { healthUrl, waitHealthy } from "./health.ts";
import type { ManagedApp } from "./managed.ts";
import { secs, type Progress, type ProgressListener } from "./progress.ts";
import type { SlotRunner } from "./slots.ts";
import type { SlotStatus } from "./state-files.ts";
import type { AppTimings } from "./timings.ts";

export type SwitchAction = "deploy" | "restart" | "rollback" | "failover";

export interface DeployHooks {
  readonly runner: SlotRunner;
  readonly timings: AppTimings;
  /** Something about the app changed: persist app_state.json and republish routes if needed. */
  changed(app: ManagedApp): void;
  emit(event: AppEvent): void;
  /** Routing now points at `slot` (reset its breaker, register the domain for ACME). */
  switched(app: ManagedApp, slot: Slot): void;
  /** Waits `ms` (drain); replaceable so shutdown can cut it short. */
  sleep(ms: number): Promise<void>;
  /** A progress phase of any switch (SPEC §14.7): the log and `/events/apps`. */
  progress(app: ManagedApp, progress: Progress): void;
}

/** Both the supervisor's progress sink and the caller's listener, if any. */
function reporter(app: ManagedApp, hooks: DeployHooks, onProgress?: ProgressListener): ProgressListener {
  return (p) => {
    hooks.progress(app, p);
    try {
      onProgress?.(p);
    } catch {
      // a caller that went away (a closed SSE stream) must not fail the deploy
    }
  };
}

/** Runs the switch toward the other slot; resolves with the slot now serving. */
export async function switchSlots(app: ManagedApp, hooks: DeployHooks, action: SwitchAction, onProgress?: ProgressListener): Promise<Slot> {
  const started = performance.now();
  const report = reporter(app, hooks, onProgress);
  try {
    const slot = await switchTo(app, hooks, action, report);
    report({ phase: "done", slot, elapsed_secs: secs(performance.now() - started) });
    return slot;
  } catch (err) {
    report({ phase: "failed", error: (err as Error).message });
    throw err;
  }
}

async function switchTo(app: ManagedApp, hooks: DeployHooks, action: SwitchAction, report: ProgressListener): Promise<Slot> {
  const from = app.currentSlot;
  const target = otherSlot(from);
  await bringUp(app, target, hooks, report, action === "rollback");

  // Switch: from here on new requests go to the target (one snapshot swap).
  app.currentSlot = target;
  app.stopped = false;
  app.healthFailures = 0;
  hooks.changed(app);
  hooks.switched(app, target);
  report({ phase: "switched", slot: target });

  const old = app.slots[from];
  if (old.proc) {
    report({ phase: "draining", seconds: app.config.drainDelaySecs });
    await hooks.sleep(app.config.drainDelaySecs * 1000);
    await hooks.runner.stop(app, from, "Stopped");
    hooks.changed(app);
    hooks.emit(statusEvent(app, from, "Stopped"));
  }
  if (action !== "failover") {
    app.unexpectedExits = 0;
    app.gaveUp = false;
    app.lastError = null;
  }
  hooks.emit({ type: "Deployed", app_name: app.name, slot: target });
  hooks.emit(statusEvent(app, target, "Running"));
  if (action === "restart" || action === "failover") hooks.emit({ type: "Restarted", app_name: app.name });
  return target;
}

/** Start-up: the app's recorded slot is started in place (nothing to switch from). */
export async function startInPlace(app: ManagedApp, hooks: DeployHooks, onProgress?: ProgressListener): Promise<Slot> {
  const slot = app.currentSlot;
  const report = reporter(app, hooks, onProgress);
  try {
    await bringUp(app, slot, hooks, report);
  } catch (err) {
    report({ phase: "failed", error: (err as Error).message });
    throw err;
  }
  app.healthFailures = 0;
  hooks.changed(app);
  hooks.switched(app, slot);
  hooks.emit(statusEvent(app, slot, "Running"));
  return slot;
}

/** `stop`: both slots, and the app stays down until the next deploy or restart. */
export async function stopApp(app: ManagedApp, hooks: DeployHooks): Promise<void> {
  app.cancelRetry();
  app.stopped = true;
  await Promise.all([hooks.runner.stop(app, "blue"), hooks.runner.stop(app, "green")]);
  hooks.changed(app);
  hooks.emit({ type: "Stopped", app_name: app.name, slot: app.currentSlot });
  hooks.emit(statusEvent(app, app.currentSlot, "Stopped"));
}

/** Steps 2–3: a fresh process in `slot` that answers its health check with a 2xx, or an error. */
async function bringUp(app: ManagedApp, slot: Slot, hooks: DeployHooks, report: ProgressListener, rollback = false): Promise<void> {
  const { runner, timings } = hooks;
  const state = app.slots[slot];
  const name = app.name;
  await runner.stop(app, slot, "Stopped");
  let proc;
  try {
    proc = await runner.start(app, slot, rollback);
  } catch (err) {
    state.status = "Failed";
    fail(app, hooks, slot, (err as Error).message);
  }
  hooks.changed(app);
  hooks.emit(statusEvent(app, slot, "Starting"));
  report({ phase: "starting", slot, port: state.port });

  const url = healthUrl(state.port, app.config.healthCheck);
  const waitMs = timings.healthWaitMs ?? app.config.healthTimeoutSecs * 1000;
  const outcome = await waitHealthy(url, proc.exited, { waitMs, intervalMs: timings.healthIntervalMs, timeoutMs: timings.healthTimeoutMs }, (a) =>
    report({ phase: "health", attempt: a.attempt, elapsed_secs: secs(a.elapsedMs), timeout_secs: secs(waitMs), last_error: a.error }),
  );
  if (outcome.healthy) {
    state.status = "Running";
    return;
  }
  await runner.stop(app, slot, "Failed");
  const log = `run/logs/${name}/${slot}.log`;
  fail(
    app,
    hooks,
    slot,
    outcome.exited !== null
      ? `${name} slot ${slot} ${outcome.exited} before becoming healthy on ${url} (see ${log})`
      : `${name} slot ${slot} did not become healthy on ${url} within ${secs(waitMs)}s (last error: ${outcome.lastError}; see ${log})`,
  );
}

function fail(app: ManagedApp, hooks: DeployHooks, slot: Slot, message: string): never {
  app.lastError = message;
  hooks.changed(app);
  hooks.emit(statusEvent(app, slot, "Failed"));
  throw new Error(message);
}

export function statusEvent(app: ManagedApp, slot: Slot, status: SlotStatus): AppEvent {
  return { type: "StatusChanged", app_name: app.name, slot, status: status.toLowerCase() as EventStatus };
}
