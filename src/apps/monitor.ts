/**
 * Supervision (SPEC §14.8). The health monitor probes each serving app's health_check: only a
 * transport failure (refused, reset, timeout) counts toward a failover; an HTTP answer sets
 * Running (2xx) or Unhealthy (anything else, logged). The crash policy decides what follows an
 * unexpected exit: a failover at once, then with a doubling back-off, and after more than
 * `maxUnexpectedExits` in a row the app stays Failed until an operator deploys it.
 */
import type { Logger } from "../lib/log.ts";
import { statusEvent } from "./deploy.ts";
import type { AppEvent } from "./events.ts";
import { healthUrl, probe } from "./health.ts";
import type { ManagedApp } from "./managed.ts";
import type { AppTimings } from "./timings.ts";

export interface MonitorHooks {
  readonly log: Logger;
  readonly timeoutMs: number;
  /** `apps.health_failure_threshold`, read at each probe so a reload applies. */
  threshold(): number;
  changed(app: ManagedApp): void;
  emit(event: AppEvent): void;
  failover(app: ManagedApp, why: string): void;
}

/** One round of the health monitor over every app. */
export async function monitorRound(apps: Iterable<ManagedApp>, hooks: MonitorHooks): Promise<void> {
  await Promise.all([...apps].map((app) => checkApp(app, hooks)));
}

async function checkApp(app: ManagedApp, hooks: MonitorHooks): Promise<void> {
  if (app.stopped || app.busy || app.gaveUp) return;
  const slot = app.current;
  if (!slot.serving) return;
  const url = healthUrl(slot.port, app.config.healthCheck);
  const result = await probe(url, hooks.timeoutMs);
  if (app.busy || app.current !== slot || !slot.serving) return; // a deploy or an exit got there first
  if (!result.answered) {
    app.healthFailures++;
    hooks.log.warn(
      { app: app.name, slot: slot.slot, url, err: result.error, failures: app.healthFailures },
      `health check of ${app.name} failed: ${result.error}`,
    );
    if (app.healthFailures >= hooks.threshold()) {
      app.healthFailures = 0;
      hooks.failover(app, `health check on ${url} failed: ${result.error}`);
    }
    return;
  }
  app.healthFailures = 0;
  const healthy = result.status >= 200 && result.status < 300;
  if (!healthy) hooks.log.warn({ app: app.name, slot: slot.slot, url, status: result.status }, `health check of ${app.name} answered ${result.status}`);
  const status = healthy ? "Running" : "Unhealthy";
  if (slot.status !== status) {
    slot.status = status;
    hooks.changed(app);
    hooks.emit(statusEvent(app, slot.slot, status));
  }
}

/**
 * Counts an unexpected exit (or a failover that did not come up) and says when to fail over
 * again: `0` at once, a delay in ms, or null to give up. A process that ran for
 * `crashStableMs` before dying starts a new count.
 */
export function nextRetry(app: ManagedApp, livedMs: number, timings: AppTimings): number | null {
  if (livedMs >= timings.crashStableMs) app.unexpectedExits = 0;
  app.unexpectedExits++;
  if (app.unexpectedExits > timings.maxUnexpectedExits) {
    app.gaveUp = true;
    return null;
  }
  return app.unexpectedExits === 1 ? 0 : timings.crashBackoffMs * 2 ** (app.unexpectedExits - 2);
}
