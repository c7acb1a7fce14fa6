/**
 * One coarse clock for every in-flight request. Requests register here and each tick runs their
 * deadlines (request_timeout) and their "this one is slow" steps. Under load, a setTimeout, an
 * AbortSignal listener and a Bun `server.timeout()` call per request each cost tens of µs of
 * event-loop work (measured with bench/e2e.ts); a Set insert and delete cost next to nothing, and
 * nearly every request is over long before the first tick looks at it.
 */
export interface Watched {
  /** Called on every tick while registered; `now` is performance.now(). */
  tick(now: number): void;
}

export class Watch {
  private readonly items = new Set<Watched>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(readonly everyMs = 100) {}

  add(item: Watched): void {
    this.items.add(item);
    if (this.timer === null) {
      this.timer = setInterval(() => this.tick(), this.everyMs);
      // The clock alone must not keep the process alive.
      (this.timer as { unref?: () => void }).unref?.();
    }
  }

  delete(item: Watched): void {
    this.items.delete(item);
  }

  get size(): number {
    return this.items.size;
  }

  private tick(): void {
    if (this.items.size === 0) {
      clearInterval(this.timer!);
      this.timer = null;
      return;
    }
    const now = performance.now();
    for (const item of this.items) item.tick(now);
  }
}
