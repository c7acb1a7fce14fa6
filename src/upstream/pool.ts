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

export class UpstreamPool {
  private readonly idle = new Map<string, Connection[]>();
  private opened = 0;
  private reused = 0;

  constructor(
    /** Idle connections kept per endpoint; more are closed. */
    private readonly maxIdlePerEndpoint = 256,
    /** Seconds an idle connection is kept before it is closed. */
    private readonly idleTimeoutSecs = 60,
  ) {}

  /** An idle connection to the endpoint, or a new one. */
  acquire(endpoint: Endpoint): Connection | Promise<Connection> {
    const list = this.idle.get(endpoint.key);
    while (list && list.length > 0) {
      const conn = list.pop()!;
      if (!conn.open) continue;
      conn.socket?.timeout(0);
      this.reused++;
      return conn;
    }
    this.opened++;
    return Connection.open(endpoint).then((conn) => {
      conn.onForget = (c) => this.forget(c);
      return conn;
    });
  }

  /** Puts a connection whose exchange finished cleanly back for reuse. */
  release(conn: Connection): void {
    if (!conn.open) return;
    conn.user = null;
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
    const list = this.idle.get(conn.endpoint.key);
    if (!list) return;
    const i = list.indexOf(conn);
    if (i >= 0) list.splice(i, 1);
  }
}
