import { describe, expect, test } from "bun:test";
import { parseMetrics } from "../../src/tui/model/metrics.ts";
import { appendBounded, rates, sparkline, statusMix, trafficSample, windowLatency, type TrafficSample } from "../../src/tui/model/traffic.ts";

/** A metrics page with `requests` requests, all in the 0.01 s bucket but `slow` in the 1 s one. */
function page(requests: number, slow = 0): string {
  const fast = requests - slow;
  return [
    `proxy_requests_total ${requests}`,
    "proxy_requests_in_flight 1",
    "proxy_response_time_seconds 0.02",
    `proxy_response_status_codes_total{code="200"} ${fast}`,
    `proxy_response_status_codes_total{code="503"} ${slow}`,
    `proxy_request_duration_seconds_bucket{route="default",upstream="none",le="0.01"} ${fast}`,
    `proxy_request_duration_seconds_bucket{route="default",upstream="none",le="1"} ${requests}`,
    `proxy_request_duration_seconds_bucket{route="default",upstream="none",le="+Inf"} ${requests}`,
    `proxy_request_duration_seconds_sum{route="default",upstream="none"} ${fast * 0.005 + slow * 0.5}`,
    `proxy_request_duration_seconds_count{route="default",upstream="none"} ${requests}`,
  ].join("\n");
}

const sample = (at: number, requests: number, slow = 0): TrafficSample => trafficSample(parseMetrics(page(requests, slow)), at);

describe("dashboard figures from successive samples", () => {
  test("request rates per poll interval; a counter that went down counts from zero", () => {
    const points = [
      { at: 0, value: 10 },
      { at: 1000, value: 30 },
      { at: 3000, value: 50 },
      { at: 4000, value: 5 },
    ];
    expect(rates(points)).toEqual([20, 10, 5]);
  });

  test("a sparkline scales to the largest value shown, blanks zeros and pads on the left", () => {
    expect([sparkline([0, 1, 2, 4, 8], 5), sparkline([3, 3], 4), sparkline([1, 2, 3, 100, 50], 2), sparkline([], 3), sparkline([0, 0], 2)]).toEqual([
      " ▂▃▅█",
      "  ██",
      "█▅",
      "   ",
      "  ",
    ]);
  });

  test("the history keeps the newest entries", () => {
    expect(appendBounded(appendBounded([1, 2, 3], 4, 3), 5, 3)).toEqual([3, 4, 5]);
  });

  test("latency percentiles cover the requests of the window only", () => {
    // 100 fast requests long ago, then 10 slow ones in the last minute.
    const history = [sample(0, 100), sample(60_000, 100), sample(90_000, 105, 5), sample(120_000, 110, 10)];
    const latency = windowLatency(history, 60_000);
    expect({ ...latency, p50: latency.p50 && Number(latency.p50.toFixed(4)), mean: latency.mean && Number(latency.mean.toFixed(4)) }).toEqual({
      p50: 0.505,
      p90: 0.901,
      p99: 0.9901,
      mean: 0.5,
      count: 10,
      windowMs: 60_000,
    });
  });

  test("a single sample's window is the whole life of the proxy; an empty history has no figures", () => {
    const one = windowLatency([sample(5, 4)]);
    expect([one.count, one.p99, windowLatency([]).p50]).toEqual([4, 0.0099, null]);
  });

  test("the status mix groups codes by class with shares of the total", () => {
    const mix = statusMix(
      new Map([
        ["200", 6],
        ["204", 1],
        ["404", 2],
        ["502", 1],
      ]),
    );
    expect(mix).toEqual([
      { group: "1xx", count: 0, share: 0 },
      { group: "2xx", count: 7, share: 0.7 },
      { group: "3xx", count: 0, share: 0 },
      { group: "4xx", count: 2, share: 0.2 },
      { group: "5xx", count: 1, share: 0.1 },
    ]);
  });

  test("a sample carries the totals the dashboard shows", () => {
    const s = sample(7, 12, 2);
    expect({ at: s.at, requests: s.requests, inFlight: s.inFlight, mean: s.meanSeconds, codes: [...s.statusCodes] }).toEqual({
      at: 7,
      requests: 12,
      inFlight: 1,
      mean: 0.02,
      codes: [
        ["200", 10],
        ["503", 2],
      ],
    });
  });
});
