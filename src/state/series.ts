/**
 * The last 15 minutes of traffic, one point a second, for the dashboard's charts (SPEC §18). Each
 * tick takes the difference of the running totals of state/metrics.ts (in the primary these are
 * summed over every worker, SPEC §15.1), so recording a request costs nothing extra; the series
 * outlives reloads like the counters it is made from (ARCHITECTURE §5).
 */
import { DURATION_BUCKETS, type MetricsTotals } from "./metrics.ts";

/** 15 minutes of one-second points. */
export const SERIES_SECONDS = 15 * 60;

export interface SeriesPoint {
  /** Unix seconds at the end of the second. */
  t: number;
  /** Requests answered in this second. */
  rps: number;
  /** Latency quantiles of this second's requests in ms, null when there were none. */
  p50_ms: number | null;
  p99_ms: number | null;
  /** Responses of this second by class: [1xx, 2xx, 3xx, 4xx, 5xx]. */
  status: number[];
  /** Requests being handled at the tick. */
  in_flight: number;
  /** Proxy errors and upstream transport errors in this second. */
  errors: number;
  upstream_errors: number;
}

export class MetricsSeries {
  private readonly ring: (SeriesPoint | undefined)[];
  private next = 0;
  private size = 0;
  private last: MetricsTotals | null = null;
  private readonly listeners = new Set<(point: SeriesPoint) => void>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly read: () => MetricsTotals,
    private readonly inFlight: () => number,
    readonly capacity = SERIES_SECONDS,
  ) {
    this.ring = new Array(capacity);
  }

  /** Ticks once a second until stop(); the timer never keeps the process alive. */
  start(everyMs = 1000): void {
    if (this.timer) return;
    this.last = this.read();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.listeners.clear();
  }

  /** Appends the point for the second that just ended and hands it to every subscriber. */
  sample(nowMs = Date.now()): SeriesPoint {
    const now = this.read();
    const before = this.last ?? now;
    this.last = now;
    const buckets = now.durations.map((n, i) => n - before.durations[i]!);
    const point: SeriesPoint = {
      t: Math.floor(nowMs / 1000),
      rps: now.requests - before.requests,
      p50_ms: quantileMs(buckets, 0.5),
      p99_ms: quantileMs(buckets, 0.99),
      status: now.statusClasses.map((n, i) => n - before.statusClasses[i]!),
      in_flight: this.inFlight(),
      errors: now.errors - before.errors,
      upstream_errors: now.upstreamErrors - before.upstreamErrors,
    };
    this.ring[this.next] = point;
    this.next = (this.next + 1) % this.capacity;
    this.size = Math.min(this.size + 1, this.capacity);
    for (const listener of this.listeners) {
      try {
        listener(point);
      } catch {
        // A subscriber whose stream broke must not stop the others or the tick.
      }
    }
    return point;
  }

  /** Every point kept, oldest first. */
  points(): SeriesPoint[] {
    const out: SeriesPoint[] = [];
    for (let i = 0; i < this.size; i++) out.push(this.ring[(this.next - this.size + i + this.capacity) % this.capacity]!);
    return out;
  }

  subscribe(listener: (point: SeriesPoint) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscribers(): number {
    return this.listeners.size;
  }
}

/**
 * The q-quantile of per-bucket counts, interpolated linearly inside its bucket as Prometheus'
 * histogram_quantile does; a quantile in the +Inf bucket is reported as the last finite bound.
 */
export function quantileMs(buckets: ArrayLike<number>, q: number): number | null {
  let total = 0;
  for (let i = 0; i < buckets.length; i++) total += buckets[i]!;
  if (total <= 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const n = buckets[i]!;
    if (n > 0 && seen + n >= rank) {
      if (i >= DURATION_BUCKETS.length) return DURATION_BUCKETS[DURATION_BUCKETS.length - 1]! * 1000;
      const lower = i === 0 ? 0 : DURATION_BUCKETS[i - 1]!;
      const upper = DURATION_BUCKETS[i]!;
      return (lower + (upper - lower) * ((rank - seen) / n)) * 1000;
    }
    seen += n;
  }
  return DURATION_BUCKETS[DURATION_BUCKETS.length - 1]! * 1000;
}
