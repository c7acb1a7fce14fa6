import { describe, expect, test } from "bun:test";
import { byLabel, histogram, histogramDelta, parseMetrics, quantile, total } from "../../src/tui/model/metrics.ts";
import { Metrics } from "../../src/state/metrics.ts";

const PAGE = `# HELP proxy_requests_total Total number of HTTP requests
# TYPE proxy_requests_total counter
proxy_requests_total 12
proxy_requests_in_flight 2
proxy_response_status_codes_total{code="200"} 9
proxy_response_status_codes_total{code="502"} 3
proxy_request_duration_seconds_bucket{route="/a \\"q\\" \\\\ x",upstream="http://u:1",le="0.01"} 4
proxy_request_duration_seconds_bucket{route="/a \\"q\\" \\\\ x",upstream="http://u:1",le="0.1"} 8
proxy_request_duration_seconds_bucket{route="/a \\"q\\" \\\\ x",upstream="http://u:1",le="+Inf"} 10
proxy_request_duration_seconds_bucket{route="none",upstream="none",le="0.01"} 2
proxy_request_duration_seconds_bucket{route="none",upstream="none",le="0.1"} 2
proxy_request_duration_seconds_bucket{route="none",upstream="none",le="+Inf"} 2
proxy_request_duration_seconds_sum{route="none",upstream="none"} 0.004
proxy_request_duration_seconds_count{route="none",upstream="none"} 2
garbage line {
proxy_bytes_sent 1.5e3 1700000000000
`;

describe("metrics page parsing (SPEC §10)", () => {
  test("reads samples with escaped label values, skips comments and unreadable lines, ignores timestamps", () => {
    const samples = parseMetrics(PAGE);
    expect({
      count: samples.length,
      requests: total(samples, "proxy_requests_total"),
      bytes: total(samples, "proxy_bytes_sent"),
      codes: [...byLabel(samples, "proxy_response_status_codes_total", "code")],
      route: samples.find((s) => s.name === "proxy_request_duration_seconds_bucket")?.labels.route,
      missing: total(samples, "nope"),
    }).toEqual({
      count: 13,
      requests: 12,
      bytes: 1500,
      codes: [
        ["200", 9],
        ["502", 3],
      ],
      route: '/a "q" \\ x',
      missing: 0,
    });
  });

  test("sums a histogram over its label sets, bounds ascending with +Inf last", () => {
    const h = histogram(parseMetrics(PAGE), "proxy_request_duration_seconds");
    expect(h).toEqual({ bounds: [0.01, 0.1, Infinity], counts: [6, 10, 12], sum: 0.004, count: 2 });
  });

  test("reads the proxy's own metrics page", () => {
    const m = new Metrics();
    for (const seconds of [0.002, 0.002, 0.03, 0.2])
      m.record({ status: 200, seconds, bytesIn: 0, bytesOut: 10, route: "default", upstream: "http://b:1", relayed: true, transportError: false });
    const samples = parseMetrics(m.render(1));
    const h = histogram(samples, "proxy_request_duration_seconds");
    expect({
      requests: total(samples, "proxy_requests_total"),
      inFlight: total(samples, "proxy_requests_in_flight"),
      count: h.counts.at(-1),
      bounds: h.bounds.length,
    }).toEqual({
      requests: 4,
      inFlight: 1,
      count: 4,
      bounds: 13,
    });
  });
});

describe("latency percentiles from histogram buckets", () => {
  const h = { bounds: [0.01, 0.1, 1, Infinity], counts: [50, 90, 99, 100], sum: 0, count: 100 };

  test("interpolates inside the bucket holding the rank, like histogram_quantile", () => {
    expect([0.5, 0.25, 0.7, 0.99].map((q) => Number(quantile(h, q)!.toFixed(9)))).toEqual([0.01, 0.005, 0.055, 1]);
  });

  test("reports a quantile in the +Inf bucket as the largest finite bound, and none without observations", () => {
    expect([quantile(h, 0.999), quantile({ bounds: [0.1, Infinity], counts: [0, 0], sum: 0, count: 0 }, 0.5)]).toEqual([1, null]);
  });

  test("a window is the growth between two pages; a restarted proxy counts from zero", () => {
    const later = { bounds: [0.1, Infinity], counts: [15, 20], sum: 3, count: 20 };
    const earlier = { bounds: [0.1, Infinity], counts: [10, 12], sum: 1, count: 12 };
    expect([histogramDelta(later, earlier), histogramDelta(earlier, later)]).toEqual([{ bounds: [0.1, Infinity], counts: [5, 8], sum: 2, count: 8 }, earlier]);
  });
});
