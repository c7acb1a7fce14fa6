/**
 * The runtime state of one managed app: its configuration, which slot is current, what runs in
 * each slot, the per-app lock and the crash-loop bookkeeping. Owned by the supervisor; lives as
 * long as the app's directory does (ARCHITECTURE §5).
 */
import { otherSlot, type AppConfig, type Slot } from "./config.ts";
import type { SlotProcess } from "./process.ts";
import type { AppRecord, SlotStatus } from "./state-files.ts";

export class SlotState {
  status: SlotStatus = "Stopped";
  lastStarted: Date | null = null;
  proc: SlotProcess | null = null;
  /** Set while we stop the process: its exit is expected, not a crash. */
  stopping = false;
  /** Why the last process ended, when we did not ask it to. */
  lastExit: string | null = null;
  /** Docker mode: the image ID this slot last ran, for a rollback (SPEC §14.7). */
  image: string | null = null;

  constructor(
    readonly slot: Slot,
    public port: number,
  ) {}

  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  /** Running a process that passed its health check: a routing target (SPEC §14.9). */
  get serving(): boolean {
    return this.proc !== null && (this.status === "Running" || this.status === "Unhealthy");
  }
}

export class ManagedApp {
  currentSlot: Slot = "blue";
  /** `stop` was requested: no auto-start, no monitoring until the next deploy or restart. */
  stopped = false;
  readonly slots: Record<Slot, SlotState>;
  /** The deploy, restart, rollback, failover or stop in progress (the per-app lock). */
  busy: Promise<unknown> | null = null;
  /** Consecutive unexpected exits (SPEC §14.8); reset by a successful operator deploy. */
  unexpectedExits = 0;
  /** More than the allowed unexpected exits: the app stays Failed until a successful deploy. */
  gaveUp = false;
  lastError: string | null = null;
  /**
   * The errors of an app.infos that no longer validates (file:line: message), null when it does.
   * The app keeps running on its last good settings meanwhile, as proxy.conf does (SPEC §13).
   */
  configError: string | null = null;
  /** Consecutive health probes that failed in transport. */
  healthFailures = 0;
  /** A failover waiting for its back-off delay. */
  retryTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    public config: AppConfig,
    ports: Record<Slot, number>,
  ) {
    this.slots = { blue: new SlotState("blue", ports.blue), green: new SlotState("green", ports.green) };
  }

  get name(): string {
    return this.config.name;
  }

  get current(): SlotState {
    return this.slots[this.currentSlot];
  }

  /** The slot traffic goes to: the current one if it serves, else the other if it does. */
  routableSlot(): SlotState | null {
    if (this.current.serving) return this.current;
    const other = this.slots[otherSlot(this.currentSlot)];
    return other.serving ? other : null;
  }

  record(): AppRecord {
    const slot = (s: Slot) => {
      const { port, pid, status, image } = this.slots[s];
      return image === null ? { port, pid, status } : { port, pid, status, image };
    };
    return { current_slot: this.currentSlot, stopped: this.stopped, blue: slot("blue"), green: slot("green") };
  }

  /** Runs `work` under the per-app lock; null when the lock is taken. */
  tryLock<T>(work: () => Promise<T>): Promise<T> | null {
    if (this.busy) return null;
    const run = work();
    this.busy = run;
    const release = () => {
      if (this.busy === run) this.busy = null;
    };
    run.then(release, release);
    return run;
  }

  /** Runs `work` under the per-app lock, waiting for the current holder first. */
  async lock<T>(work: () => Promise<T>): Promise<T> {
    for (;;) {
      const holder = this.busy;
      if (!holder) break;
      await holder.catch(() => {});
    }
    return this.tryLock(work)!;
  }

  cancelRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }
}
