/**
 * Keep-alive connections to upstreams, one idle list per endpoint (SPEC §5.6 step 7: HTTP/1.1
 * upstream, connections kept alive). Lives outside the config snapshot: a reload keeps them.
 */
import { Connection, type Endpoint } from "./connection.ts";

export interface PoolStats {
  /** Connections opened since start. */
  opened: number;
  /** Requests sent on a connection that had already carried one. */
  reused: number;
  /** Idle connections right now. */
  idle: number;
}

/** A request waiting for a connection to an endpoint at its cap. */
interface Waiter {
  readonly resolve: (conn: Connection) => void;
  readonly reject: (err: Error) => void;
}

export class UpstreamPool {
  private readonly idle = new Map<string, Connection[]>();
  /** Connections open or opening per endpoint (idle and busy): the cap of limits.max_upstream_connections. */
  private readonly counts = new Map<string, number>();
  private readonly waiting = new Map<string, Waiter[]>();
  private opened = 0;
  private reused = 0;

  constructor(
    /** Idle connections kept per endpoint; more are closed. */
    private readonly maxIdlePerEndpoint = 256,
    /** Seconds an idle connection is kept before it is closed. */
    private readonly idleTimeoutSecs = 60,
  ) {}

  /**
   * An idle connection to the endpoint, or a new one while fewer than `max` are open; beyond that
   * the request waits for one to be released or closed (issue 20: an HTTP/2 client with thousands
   * of streams must not open thousands of upstream connections). `onQueued` is told when it waits,
   * with a function that takes the request out of the queue (it gave up).
   */
  acquire(endpoint: Endpoint, max = Infinity, onQueued?: { queued(leave: () => void): void }): Connection | Promise<Connection> {
    const list = this.idle.get(endpoint.key);
    while (list && list.length > 0) {
      const conn = list.pop()!;
      if (!conn.open) continue;
      conn.socket?.timeout(0);
      this.reused++;
      return conn;
    }
    if ((this.counts.get(endpoint.key) ?? 0) >= max) {
      return new Promise<Connection>((resolve, reject) => {
        let queue = this.waiting.get(endpoint.key);
        if (!queue) this.waiting.set(endpoint.key, (queue = []));
        const waiter: Waiter = { resolve, reject };
        queue.push(waiter);
        onQueued?.queued(() => {
          const q = this.waiting.get(endpoint.key);
          const i = q ? q.indexOf(waiter) : -1;
          if (i >= 0) q!.splice(i, 1);
          if (q && q.length === 0) this.waiting.delete(endpoint.key);
        });
      });
    }
    return this.openNew(endpoint);
  }

  /** Requests waiting for a connection, over all endpoints. */
  get queued(): number {
    let n = 0;
    for (const q of this.waiting.values()) n += q.length;
    return n;
  }

  private openNew(endpoint: Endpoint): Promise<Connection> {
    this.opened++;
    this.counts.set(endpoint.key, (this.counts.get(endpoint.key) ?? 0) + 1);
    // forget() runs when the connection closes, also when it fails to connect.
    return Connection.open(endpoint, (c) => this.forget(c));
  }

  /** A connection to `endpoint` is gone: the first waiter may open a new one. */
  private closedOne(endpoint: Endpoint): void {
    const n = (this.counts.get(endpoint.key) ?? 1) - 1;
    if (n <= 0) this.counts.delete(endpoint.key);
    else this.counts.set(endpoint.key, n);
    const waiter = this.nextWaiter(endpoint.key);
    if (waiter) this.openNew(endpoint).then(waiter.resolve, waiter.reject);
  }

  private nextWaiter(key: string): Waiter | undefined {
    const queue = this.waiting.get(key);
    const waiter = queue?.shift();
    if (queue && queue.length === 0) this.waiting.delete(key);
    return waiter;
  }

  /** Puts a connection whose exchange finished cleanly back for reuse, or hands it to a waiter. */
  release(conn: Connection): void {
    if (!conn.open) return;
    conn.user = null;
    const waiter = this.nextWaiter(conn.endpoint.key);
    if (waiter) return waiter.resolve(conn);
    let list = this.idle.get(conn.endpoint.key);
    if (!list) this.idle.set(conn.endpoint.key, (list = []));
    if (list.length >= this.maxIdlePerEndpoint) list.shift()?.destroy();
    conn.socket?.timeout(this.idleTimeoutSecs);
    list.push(conn);
  }

  stats(): PoolStats {
    let idle = 0;
    for (const list of this.idle.values()) idle += list.length;
    return { opened: this.opened, reused: this.reused, idle };
  }

  /** Closes every idle connection (shutdown, tests). Busy ones finish their exchange first. */
  closeIdle(): void {
    for (const list of this.idle.values()) for (const conn of list.splice(0)) conn.destroy();
  }

  private forget(conn: Connection): void {
    this.closedOne(conn.endpoint);
    const list = this.idle.get(conn.endpoint.key);
    if (!list) return;
    const i = list.indexOf(conn);
    if (i >= 0) list.splice(i, 1);
  }
}
