/**
 * Everything the request path keeps between requests and across reloads (ARCHITECTURE §5).
 * The snapshot points at this state by key; it never owns it.
 */
import { poolTransport, type Transport } from "../upstream/exchange.ts";
import { UpstreamPool } from "../upstream/pool.ts";
import { AuthCache } from "./auth-cache.ts";
import { ClientFlights } from "./client-flights.ts";
import { JwksSets } from "./jwks.ts";
import { Limiter } from "./limiter.ts";
import { Metrics } from "./metrics.ts";
import { Breakers } from "./breakers.ts";
import { AppMetrics } from "./app-metrics.ts";
import { Rotation } from "./rotation.ts";
import { Watch } from "./watch.ts";

export class ProxyState {
  readonly pool = new UpstreamPool();
  /** How requests reach their upstream: HTTP/1.1 over `pool`; tests put an in-memory one here. */
  transport: Transport = poolTransport(this.pool);
  readonly rotation = new Rotation();
  /** Circuit breakers by upstream origin (SPEC §6.2); the admin API reads snapshot() and calls resetAll(). */
  readonly breakers = new Breakers();
  /** Open WebSocket tunnels: a reload leaves them alone, shutdown closes them with 1001 (SPEC §15.4). */
  readonly tunnels = new Set<OpenTunnel>();
  /** The coarse clock for request deadlines and slow-request handling. */
  readonly watch = new Watch(100);
  /** Rate-limit buckets per client (SPEC §8). */
  readonly limiter = new Limiter();
  /** Prometheus counters (SPEC §10). */
  readonly metrics = new Metrics();
  /** Cached Basic and JWT verifications (SPEC §7.2). */
  readonly auth = new AuthCache();
  /** Remote JWKS key sets by URL (SPEC §7.4). */
  readonly jwks = new JwksSets();
  /** Requests being handled by this process (SPEC §5.2 step 1). */
  inFlight = 0;
  /** Requests in flight per client (limits.max_in_flight_per_client). */
  readonly clientFlights = new ClientFlights();
  /** Set once shutdown begins: readiness answers 503 (SPEC §15.4). */
  shuttingDown = false;
  /** Per-app traffic by slot port (SPEC §10, last bullet). */
  readonly appMetrics = new AppMetrics();
  /** Request failover (SPEC §14.8): called when proxying to an app's slot failed in transport. */
  appFailover: ((app: string, port: number) => void) | null = null;
  /**
   * The text served at metrics.endpoint: this process's own figures, or in a worker process the
   * sum over every process, which only the primary knows (SPEC §15.1).
   */
  metricsPage: () => string | Promise<string> = () => this.metrics.render(this.inFlight);
  private nextId = 0;
  private readonly idPrefix = `${process.pid.toString(36)}-`;

  /** A serial number per request; its id text (requestId) is only made when a log line needs it. */
  nextRequest(): number {
    return ++this.nextId;
  }

  requestId(serial: number): string {
    return this.idPrefix + serial.toString(36);
  }

  /** Drops state for rules and upstreams the new snapshot no longer names. */
  prune(liveRouteKeys: ReadonlySet<string>, liveOrigins?: ReadonlySet<string>): void {
    this.rotation.prune(liveRouteKeys);
    this.limiter.prune(liveRouteKeys);
    if (liveOrigins) this.breakers.prune(liveOrigins);
  }
}

/** A WebSocket tunnel as the process sees it: something to close when it shuts down. */
export interface OpenTunnel {
  /** Closes both sides with 1001 Going Away. */
  shutdown(): void;
}
