/** A completed request as the door records it, for metrics tests; `over` changes what a test is about. */
import type { RequestSample } from "../../src/state/metrics.ts";

export const requestSample = (over: Partial<RequestSample> = {}): RequestSample => ({
  route: "/api/*",
  upstream: "http://10.0.0.1:8080",
  status: 200,
  seconds: 0.003,
  bytesIn: 10,
  bytesOut: 100,
  relayed: true,
  transportError: false,
  ...over,
});
