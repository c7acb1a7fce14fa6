/**
 * The record phase (SPEC §9, §10): runs once for every request, whatever happened to it, when its
 * answer is complete (the body relayed, the tunnel closed): the metrics and the endpoint log line.
 */
import type { RequestSample } from "../state/metrics.ts";
import { UpstreamError } from "../upstream/exchange.ts";
import { ProxyError } from "./errors.ts";
import type { Flight } from "./flight.ts";

/** One sample object reused for every request: Metrics.record() copies what it keeps. */
const sample: { -readonly [K in keyof RequestSample]: RequestSample[K] } = {
  route: "none",
  upstream: null,
  status: 0,
  seconds: 0,
  bytesIn: 0,
  bytesOut: 0,
  relayed: false,
  transportError: false,
};

/** `tunnel`: the request was a WebSocket the client was upgraded to. */
export function record(flight: Flight, tunnel: boolean): void {
  const state = flight.state;
  const elapsedMs = performance.now() - flight.started;
  const upstream = flight.upstream;
  const failure = flight.error;
  const route = flight.route;
  sample.route = route !== null ? route.key : flight.internal ? "internal" : "none";
  sample.upstream = upstream === null ? null : upstream.origin;
  sample.status = flight.status;
  sample.seconds = elapsedMs / 1000;
  sample.bytesIn = upstream === null ? 0 : flight.requestBytes >= 0 ? flight.requestBytes : declaredLength(flight);
  sample.bytesOut = flight.bytes;
  // The answer came from the proxy itself (an error), not relayed from the upstream.
  sample.relayed = upstream !== null && failure === null;
  sample.transportError =
    failure instanceof ProxyError && failure.source === "upstream" && upstream !== null && (failure.status === 502 || failure.status === 504);
  state.metrics.record(sample);
  // A WebSocket tunnel that ended in failure counts as a proxy error (SPEC §10).
  if (tunnel && flight.bodyError !== null) state.metrics.tunnelFailed();
  // Per-app metrics (SPEC §10): attributed by the slot port the request went to.
  if (route !== null && route.app !== null && upstream !== null) state.appMetrics.record(upstream.port, sample);
  const cut = flight.bodyError;
  // A body the upstream cut off is its failure, like a 502: logged even without endpoint lines.
  if (cut instanceof UpstreamError && cut.kind !== "aborted" && cut.kind !== "too_large") {
    flight.door.log().warn({ req_id: flight.id, upstream: sample.upstream, err: cut.message }, "upstream response cut off");
  }
  if (flight.snapshot.logEndpoints) logEndpoint(flight, sample.route, elapsedMs);
}

/** The client's declared body size; a body without one is counted by the exchange instead. */
function declaredLength(flight: Flight): number {
  const length = flight.fields["content-length"];
  return length === undefined ? 0 : Number(length) || 0;
}

/** One line per request when `log_endpoints` is on (SPEC §9). */
function logEndpoint(flight: Flight, route: string, elapsedMs: number): void {
  // A generated answer logs its status; an unexpected failure or a cut body its error instead.
  const thrown = flight.error instanceof ProxyError ? null : flight.error;
  const error = thrown ?? flight.bodyError;
  const fields: Record<string, unknown> = {
    layer: "endpoint",
    req_id: flight.id,
    method: flight.req.method,
    scheme: flight.scheme,
    host: flight.authority,
    path: flight.path,
    // `error` takes the place of `status` when handling threw (SPEC §9).
    ...(error ? { error: error instanceof Error ? error.message : String(error) } : { status: flight.status }),
    elapsed_ms: Math.round(elapsedMs),
    client_ip: flight.clientIp,
    bytes: flight.bytes,
    upstream: flight.upstream === null ? null : flight.upstream.origin,
    route,
  };
  flight.door.log().info(fields, error ? "endpoint request failed" : "endpoint request");
}
