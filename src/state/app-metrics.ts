/**
 * Per-app traffic (SPEC §10, last bullet): counters per slot port, recorded by the door when a
 * request routed to an app completes, summed over an app's two slot ports when asked. Kept apart
 * from the Prometheus families (state/metrics.ts); they share nothing but the request record.
 */
import type { RequestSample } from "./metrics.ts";

export interface AppTraffic {
  requests: number;
  bytes_received: number;
  bytes_sent: number;
  avg_response_time_ms: number;
  /** Responses with a status outside 200–499 (proxy-generated 502/504 included). */
  errors: number;
  /** Unix ms of the last request, null when none. */
  last_request_ms: number | null;
}

/** Per-port counters a worker recorded since its previous report (SPEC §15.1). */
export type AppTrafficDelta = { port: number; requests: number; bytesIn: number; bytesOut: number; totalMs: number; errors: number; last: number }[];

class PortCounters {
  requests = 0;
  bytesIn = 0;
  bytesOut = 0;
  totalMs = 0;
  errors = 0;
  last = 0;
}

export class AppMetrics {
  private readonly byPort = new Map<number, PortCounters>();

  /** The request's sample, the one the Prometheus families get (its bytes in count chunked uploads too). */
  record(port: number, sample: RequestSample): void {
    let c = this.byPort.get(port);
    if (!c) this.byPort.set(port, (c = new PortCounters()));
    c.requests++;
    c.bytesIn += sample.bytesIn;
    c.bytesOut += sample.bytesOut;
    c.totalMs += sample.seconds * 1000;
    if (sample.status < 200 || sample.status > 499) c.errors++;
    c.last = Date.now();
  }

  /** The traffic of the app served on `ports`, or null when none of them ever had a request. */
  forPorts(ports: readonly number[]): AppTraffic | null {
    let requests = 0;
    let bytesIn = 0;
    let bytesOut = 0;
    let totalMs = 0;
    let errors = 0;
    let last = 0;
    let seen = false;
    for (const port of ports) {
      const c = this.byPort.get(port);
      if (!c) continue;
      seen = true;
      requests += c.requests;
      bytesIn += c.bytesIn;
      bytesOut += c.bytesOut;
      totalMs += c.totalMs;
      errors += c.errors;
      last = Math.max(last, c.last);
    }
    if (!seen) return null;
    return {
      requests,
      bytes_received: bytesIn,
      bytes_sent: bytesOut,
      avg_response_time_ms: requests === 0 ? 0 : Math.round((totalMs / requests) * 1000) / 1000,
      errors,
      last_request_ms: last === 0 ? null : last,
    };
  }

  /** Worker processes (SPEC §15.1): the counters since the previous call, by slot port; counting starts again from zero. */
  drain(): AppTrafficDelta {
    const delta: AppTrafficDelta = [...this.byPort].map(([port, c]) => ({
      port,
      requests: c.requests,
      bytesIn: c.bytesIn,
      bytesOut: c.bytesOut,
      totalMs: c.totalMs,
      errors: c.errors,
      last: c.last,
    }));
    this.byPort.clear();
    return delta;
  }

  /** Adds what a worker process drained; the primary's counters are the ones the admin API reads. */
  absorb(delta: AppTrafficDelta): void {
    for (const d of delta) {
      let c = this.byPort.get(d.port);
      if (!c) this.byPort.set(d.port, (c = new PortCounters()));
      c.requests += d.requests;
      c.bytesIn += d.bytesIn;
      c.bytesOut += d.bytesOut;
      c.totalMs += d.totalMs;
      c.errors += d.errors;
      c.last = Math.max(c.last, d.last);
    }
  }

  /** Drops the counters of ports no longer used by any app. */
  prune(livePorts: ReadonlySet<number>): void {
    for (const port of this.byPort.keys()) if (!livePorts.has(port)) this.byPort.delete(port);
  }
}
