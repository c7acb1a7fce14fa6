/**
 * Dashboard figures from successive metrics pages (SPEC §10, §16.5): request rate per poll,
 * latency percentiles over a recent window from the duration histogram, and the status-code mix.
 * Pure functions over samples the feed collects once a second.
 */
import { byLabel, histogram, histogramDelta, quantile, total, type Histogram, type Sample } from "./metrics.ts";

/** What one metrics page says, reduced to what the dashboard draws. */
export interface TrafficSample {
  /** When it was taken (ms). */
  at: number;
  requests: number;
  inFlight: number;
  bytesIn: number;
  bytesOut: number;
  errors: number;
  tlsConnections: number;
  /** proxy_response_time_seconds: the mean over every recorded request. */
  meanSeconds: number;
  /** Status code → responses. */
  statusCodes: Map<string, number>;
  durations: Histogram;
}

export function trafficSample(samples: readonly Sample[], at: number): TrafficSample {
  return {
    at,
    requests: total(samples, "proxy_requests_total"),
    inFlight: total(samples, "proxy_requests_in_flight"),
    bytesIn: total(samples, "proxy_bytes_received"),
    bytesOut: total(samples, "proxy_bytes_sent"),
    errors: total(samples, "proxy_errors_total"),
    tlsConnections: total(samples, "proxy_tls_connections_total"),
    meanSeconds: total(samples, "proxy_response_time_seconds"),
    statusCodes: byLabel(samples, "proxy_response_status_codes_total", "code"),
    durations: histogram(samples, "proxy_request_duration_seconds"),
  };
}

/** A counter read at successive times. */
export interface Point {
  at: number;
  value: number;
}

/** `list` with `item` appended, keeping the newest `max` entries (a new array). */
export function appendBounded<T>(list: readonly T[], item: T, max: number): T[] {
  const out = list.length >= max ? list.slice(list.length - max + 1) : list.slice();
  out.push(item);
  return out;
}

/**
 * Per-second rates between successive points of a counter; one fewer than the points. A counter
 * that went down (the proxy restarted) counts from zero again.
 */
export function rates(points: readonly Point[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!;
    const b = points[i]!;
    const seconds = (b.at - a.at) / 1000;
    if (seconds <= 0) continue;
    const delta = b.value >= a.value ? b.value - a.value : b.value;
    out.push(delta / seconds);
  }
  return out;
}

const BARS = "▁▂▃▄▅▆▇█";

/**
 * The newest `width` values as bar characters scaled to the largest shown; zero is a blank, any
 * positive value at least the lowest bar. Padded on the left with blanks to `width`.
 */
export function sparkline(values: readonly number[], width: number): string {
  if (width <= 0) return "";
  const shown = values.slice(Math.max(0, values.length - width));
  const max = Math.max(0, ...shown);
  const bars = shown.map((v) => {
    if (!(v > 0) || max === 0) return " ";
    const level = Math.min(BARS.length - 1, Math.floor((v / max) * (BARS.length - 1) + 0.5));
    return BARS[Math.max(0, level)]!;
  });
  return " ".repeat(width - bars.length) + bars.join("");
}

export interface Latency {
  /** Seconds; null when the window saw no request. */
  p50: number | null;
  p90: number | null;
  p99: number | null;
  /** Mean over the window (histogram sum / count), seconds. */
  mean: number | null;
  /** Requests observed in the window. */
  count: number;
  /** The window actually covered, ms (shorter right after start). */
  windowMs: number;
}

/** Latency over the newest `windowMs` of history: the histogram growth between its two ends. */
export function windowLatency(history: readonly TrafficSample[], windowMs = 60_000): Latency {
  const newest = history[history.length - 1];
  if (!newest) return { p50: null, p90: null, p99: null, mean: null, count: 0, windowMs: 0 };
  let oldest = newest;
  for (let i = history.length - 1; i >= 0; i--) {
    if (newest.at - history[i]!.at > windowMs) break;
    oldest = history[i]!;
  }
  // With a single sample the window is "since the proxy started".
  const h = oldest === newest ? newest.durations : histogramDelta(newest.durations, oldest.durations);
  const count = h.counts[h.counts.length - 1] ?? 0;
  return {
    p50: quantile(h, 0.5),
    p90: quantile(h, 0.9),
    p99: quantile(h, 0.99),
    mean: count > 0 ? h.sum / count : null,
    count,
    windowMs: newest.at - oldest.at,
  };
}

export interface StatusShare {
  /** `1xx` … `5xx`. */
  group: string;
  count: number;
  /** 0..1 of every response. */
  share: number;
}

/** Responses by status class, every class from 1xx to 5xx present (count 0 when none). */
export function statusMix(codes: ReadonlyMap<string, number>): StatusShare[] {
  const groups = new Map<string, number>([
    ["1xx", 0],
    ["2xx", 0],
    ["3xx", 0],
    ["4xx", 0],
    ["5xx", 0],
  ]);
  for (const [code, n] of codes) {
    const group = `${code[0]}xx`;
    if (groups.has(group)) groups.set(group, groups.get(group)! + n);
  }
  const sum = [...groups.values()].reduce((a, b) => a + b, 0);
  return [...groups].map(([group, count]) => ({ group, count, share: sum > 0 ? count / sum : 0 }));
}
