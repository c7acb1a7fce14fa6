/**
 * Everything the request path keeps between requests and across reloads (ARCHITECTURE §5).
 * The snapshot points at this state by key; it never owns it.
 */
import { UpstreamPool } from "../upstream/pool.ts";
import { AppMetrics } from "./app-metrics.ts";
import { Rotation } from "./rotation.ts";
import { Watch } from "./watch.ts";

export class ProxyState {
  readonly pool = new UpstreamPool();
  readonly rotation = new Rotation();
  /** The coarse clock for request deadlines and slow-request handling. */
  readonly watch = new Watch(100);
  /** Requests being handled by this process (SPEC §5.2 step 1). */
  inFlight = 0;
  /** Set once shutdown begins: readiness answers 503 (SPEC §15.4). */
  shuttingDown = false;
  /** Per-app traffic by slot port (SPEC §10, last bullet). */
  readonly appMetrics = new AppMetrics();
  /** Request failover (SPEC §14.8): called when proxying to an app's slot failed in transport. */
  appFailover: ((app: string, port: number) => void) | null = null;
  private nextId = 0;
  private readonly idPrefix = `${process.pid.toString(36)}-`;

  requestId(): string {
    return this.idPrefix + (++this.nextId).toString(36);
  }

  /** Drops state for rules and upstreams the new snapshot no longer names. */
  prune(liveRouteKeys: ReadonlySet<string>): void {
    this.rotation.prune(liveRouteKeys);
  }
}
