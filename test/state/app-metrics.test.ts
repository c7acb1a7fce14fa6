import { describe, expect, test } from "bun:test";
import { AppMetrics } from "../../src/state/app-metrics.ts";
import { requestSample } from "../support/samples.ts";

describe("per-app metrics (SPEC §10)", () => {
  test("sums an app's two slot ports; statuses outside 200–499 are errors; pruned ports are forgotten", () => {
    const m = new AppMetrics();
    m.record(20000, requestSample({ status: 200, seconds: 10 / 1000, bytesIn: 5, bytesOut: 100 }));
    m.record(20000, requestSample({ status: 404, seconds: 20 / 1000, bytesIn: 0, bytesOut: 10 }));
    m.record(20001, requestSample({ status: 502, seconds: 30 / 1000, bytesIn: 0, bytesOut: 11 }));
    m.record(20001, requestSample({ status: 101, seconds: 0 / 1000, bytesIn: 0, bytesOut: 0 }));
    m.record(30000, requestSample({ status: 200, seconds: 1 / 1000, bytesIn: 1, bytesOut: 1 }));
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
