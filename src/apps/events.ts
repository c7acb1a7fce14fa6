/**
 * App events (SPEC §11.2 `/events/apps`): a tiny synchronous emitter the admin SSE stream
 * subscribes to. A listener that throws is dropped from nothing and never breaks the others.
 */
import type { Slot } from "./config.ts";
import type { Progress } from "./progress.ts";

export type EventStatus = "stopped" | "starting" | "running" | "unhealthy" | "failed";

export type AppEvent =
  | { readonly type: "StatusChanged"; readonly app_name: string; readonly slot: Slot; readonly status: EventStatus }
  | { readonly type: "Deployed"; readonly app_name: string; readonly slot: Slot }
  | { readonly type: "Stopped"; readonly app_name: string; readonly slot: Slot }
  | { readonly type: "Restarted"; readonly app_name: string }
  /** A phase of a deploy, restart or rollback (SPEC §14.7 "Progress"): the phase fields beside app_name. */
  | ({ readonly type: "Progress"; readonly app_name: string } & Progress);

export type AppEventListener = (event: AppEvent) => void;

export class AppEvents {
  private readonly listeners = new Set<AppEventListener>();

  /** Calls `listener` for every event from now on; returns the unsubscribe function. */
  /** How many listeners are subscribed (a vanished SSE client must leave none behind). */
  get listenerCount(): number {
    return this.listeners.size;
  }

  subscribe(listener: AppEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: AppEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // a broken subscriber (a closed SSE stream) must not stop the supervisor
      }
    }
  }
}
