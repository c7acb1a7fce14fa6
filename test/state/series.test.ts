import { describe, expect, test } from "bun:test";
import { DURATION_BUCKETS, Metrics } from "../../src/state/metrics.ts";
import { MetricsSeries, quantileMs } from "../../src/state/series.ts";

const sample = (status: number, seconds: number, transportError = false) => ({
  route: "localhost",
  upstream: "http://127.0.0.1:1",
  status,
  seconds,
  bytesIn: 0,
  bytesOut: 0,
  relayed: !transportError,
  transportError,
});

describe("metrics series", () => {
  test("each point holds what happened in its own second, summed over routes and upstreams", () => {
    const metrics = new Metrics();
    let inFlight = 0;
    const series = new MetricsSeries(
      () => metrics.totals(),
      () => inFlight,
    );
    series.start(3_600_000); // ticks by hand below
    try {
      for (let i = 0; i < 90; i++) metrics.record(sample(200, 0.003));
      for (let i = 0; i < 10; i++) metrics.record({ ...sample(502, 0.2, true), route: "other" });
      inFlight = 4;
      const first = series.sample(1_000_000);
      expect(first).toMatchObject({ t: 1000, rps: 100, status: [0, 90, 0, 0, 10], in_flight: 4, upstream_errors: 10, errors: 10 });
      expect(first.p50_ms!).toBeGreaterThan(1);
      expect(first.p50_ms!).toBeLessThanOrEqual(5);
      expect(first.p99_ms!).toBeGreaterThan(100);
      expect(first.p99_ms!).toBeLessThanOrEqual(250);
      metrics.record(sample(404, 0.0005));
      const second = series.sample(1_001_000);
      expect(second).toMatchObject({ rps: 1, status: [0, 0, 0, 1, 0], upstream_errors: 0 });
      const idle = series.sample(1_002_000);
      expect(idle).toMatchObject({ rps: 0, p50_ms: null, p99_ms: null });
    } finally {
      series.stop();
    }
  });

  test("keeps the last `capacity` points, oldest first, and tells subscribers of each new one", () => {
    const metrics = new Metrics();
    const series = new MetricsSeries(
      () => metrics.totals(),
      () => 0,
      5,
    );
    const seen: number[] = [];
    const unsubscribe = series.subscribe((p) => seen.push(p.t));
    for (let t = 1; t <= 12; t++) series.sample(t * 1000);
    expect(series.points().map((p) => p.t)).toEqual([8, 9, 10, 11, 12]);
    expect(seen).toHaveLength(12);
    unsubscribe();
    series.sample(13_000);
    expect(seen).toHaveLength(12);
    expect(series.subscribers).toBe(0);
  });

  test("a subscriber that throws stops neither the tick nor the others", () => {
    const series = new MetricsSeries(
      () => new Metrics().totals(),
      () => 0,
    );
    let calls = 0;
    series.subscribe(() => {
      throw new Error("broken stream");
    });
    series.subscribe(() => calls++);
    series.sample();
    expect(calls).toBe(1);
  });

  test("quantiles interpolate inside the bucket and stop at the last finite bound", () => {
    const buckets = new Array(DURATION_BUCKETS.length + 1).fill(0);
    expect(quantileMs(buckets, 0.5)).toBeNull();
    buckets[1] = 10; // all in (1 ms, 5 ms]
    expect(quantileMs(buckets, 0.5)).toBeCloseTo(3, 6);
    const slow = new Array(DURATION_BUCKETS.length + 1).fill(0);
    slow[DURATION_BUCKETS.length] = 1; // > 10 s
    expect(quantileMs(slow, 0.99)).toBe(10_000);
  });
});
