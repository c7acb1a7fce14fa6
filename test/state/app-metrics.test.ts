import { describe, expect, test } from "bun:test";
import { AppMetrics } from "../../src/state/app-metrics.ts";

describe("per-app metrics (SPEC §10)", () => {
  test("sums an app's two slot ports; statuses outside 200–499 are errors; pruned ports are forgotten", () => {
    const m = new AppMetrics();
    m.record(20000, 200, 10, 5, 100);
    m.record(20000, 404, 20, 0, 10);
    m.record(20001, 502, 30, 0, 11);
    m.record(20001, 101, 0, 0, 0);
    m.record(30000, 200, 1, 1, 1);
    const both = m.forPorts([20000, 20001])!;
    expect({ ...both, last_request_ms: typeof both.last_request_ms }).toEqual({
      requests: 4,
      bytes_received: 5,
      bytes_sent: 121,
      avg_response_time_ms: 15,
      errors: 2,
      last_request_ms: "number",
    });
    m.prune(new Set([30000]));
    expect([m.forPorts([20000, 20001]), m.forPorts([30000])?.requests]).toEqual([null, 1]);
  });
});
