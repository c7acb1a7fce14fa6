/**
 * One TCP (or TLS) connection to an upstream, opened with Bun.connect. It owns the write queue
 * (Bun writes can be partial) and hands socket events to the exchange currently using it.
 */
import type { Socket } from "bun";
import { isIP } from "node:net";
import type { Endpoint } from "../lib/endpoint.ts";

export type { Endpoint } from "../lib/endpoint.ts";

/** What a connection reports to the exchange using it. */
export interface ConnectionUser {
  onData(data: Buffer): void;
  /** The connection is gone; `error` is set when it failed rather than closed. */
  onClose(error: Error | null): void;
}

export class ConnectError extends Error {
  override name = "ConnectError";
}

export class Connection {
  socket: Socket<Connection> | null = null;
  user: ConnectionUser | null = null;
  open = true;
  /** Requests this connection has carried; > 0 means the next one is a reuse. */
  uses = 0;
  private queue: Uint8Array[] = [];
  private drainWaiter: (() => void) | null = null;
  private ready: ((c: Connection) => void) | null = null;
  private failed: ((e: Error) => void) | null = null;
  onForget: ((c: Connection) => void) | null = null;

  constructor(readonly endpoint: Endpoint) {}

  /**
   * Writes now, or queues what the socket did not take. Returns false when the caller should
   * await `drained()`. Strings must be ASCII (one byte per character).
   */
  write(data: string | Uint8Array): boolean {
    const socket = this.socket;
    if (!this.open || !socket) return true;
    if (this.queue.length > 0) {
      this.queue.push(typeof data === "string" ? Buffer.from(data, "latin1") : data);
      return false;
    }
    const n = socket.write(data);
    if (n < 0) return true;
    if (n < data.length) {
      const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
      this.queue.push(bytes.subarray(n));
      return false;
    }
    return true;
  }

  drained(): Promise<void> {
    if (this.queue.length === 0 || !this.open) return Promise.resolve();
    return new Promise((resolve) => (this.drainWaiter = resolve));
  }

  pause(): void {
    this.socket?.pause();
  }

  resume(): void {
    this.socket?.resume();
  }

  /** Closes at once; whoever uses the connection hears `onClose(null)`. */
  destroy(): void {
    if (!this.open) return;
    this.socket?.terminate();
    this.closed(null);
  }

  // ---- socket events ----

  handleOpen(socket: Socket<Connection>): void {
    this.socket = socket;
    if (!this.endpoint.secure) this.settle(null);
  }

  handleHandshake(authorized: boolean, error: Error | null): void {
    if (authorized) return this.settle(null);
    const reason = (error as { code?: string } | null)?.code ?? error?.message ?? "certificate not trusted";
    this.socket?.terminate();
    this.closed(new ConnectError(`TLS verification of ${this.endpoint.hostname} failed: ${reason}`));
  }

  handleData(data: Buffer): void {
    // Bytes from a connection nobody is using are a protocol violation: never reuse it.
    if (this.user) this.user.onData(data);
    else this.destroy();
  }

  handleDrain(): void {
    const socket = this.socket;
    if (!socket) return;
    while (this.queue.length > 0) {
      const data = this.queue[0]!;
      const n = socket.write(data);
      if (n < 0) break;
      if (n < data.length) {
        this.queue[0] = data.subarray(n);
        return;
      }
      this.queue.shift();
    }
    this.wakeWriter();
  }

  closed(error: Error | null): void {
    if (!this.open) return;
    this.open = false;
    this.queue = [];
    this.wakeWriter();
    this.onForget?.(this);
    if (this.failed) return this.settle(error ?? new ConnectError("connection closed during connect"));
    this.user?.onClose(error);
  }

  private wakeWriter(): void {
    const waiter = this.drainWaiter;
    this.drainWaiter = null;
    waiter?.();
  }

  private settle(error: Error | null): void {
    const ready = this.ready;
    const failed = this.failed;
    this.ready = this.failed = null;
    if (error) failed?.(error);
    else ready?.(this);
  }

  /** Opens the connection; resolves once it can carry a request (after the TLS handshake). */
  static open(endpoint: Endpoint, onForget: ((c: Connection) => void) | null = null): Promise<Connection> {
    const conn = new Connection(endpoint);
    conn.onForget = onForget;
    return new Promise<Connection>((resolve, reject) => {
      conn.ready = resolve;
      conn.failed = reject;
      const serverName = endpoint.secure && isIP(endpoint.hostname) === 0 ? endpoint.hostname : undefined;
      Bun.connect<Connection>({
        hostname: endpoint.hostname,
        port: endpoint.port,
        data: conn,
        tls: endpoint.secure ? { serverName, rejectUnauthorized: true } : undefined,
        socket: HANDLERS,
      }).catch((err: Error) => conn.closed(new ConnectError(describeConnectError(err, endpoint))));
    });
  }
}

const HANDLERS = {
  open(socket: Socket<Connection>) {
    socket.data.handleOpen(socket);
  },
  handshake(socket: Socket<Connection>, authorized: boolean, error: Error | null) {
    socket.data.handleHandshake(authorized, error);
  },
  data(socket: Socket<Connection>, data: Buffer) {
    socket.data.handleData(data);
  },
  drain(socket: Socket<Connection>) {
    socket.data.handleDrain();
  },
  end(socket: Socket<Connection>) {
    // The peer finished sending. Nothing more can arrive, so treat it as the end of the connection.
    socket.end();
    socket.data.closed(null);
  },
  close(socket: Socket<Connection>, error?: Error) {
    socket.data.closed(error ?? null);
  },
  error(socket: Socket<Connection>, error: Error) {
    socket.data.closed(error);
  },
  connectError(socket: Socket<Connection>, error: Error) {
    socket.data.closed(new ConnectError(describeConnectError(error, socket.data.endpoint)));
  },
  timeout(socket: Socket<Connection>) {
    // Only idle pooled connections have a socket timeout; requests use their own deadline.
    if (!socket.data.user) socket.data.destroy();
  },
};

/** Says what went wrong; the caller adds which upstream and which request. */
function describeConnectError(err: Error, _ep: Endpoint): string {
  const code = (err as { code?: string }).code;
  return code === "ECONNREFUSED" ? "refused connection" : code === "ENOTFOUND" ? "host not found" : `connect failed (${code ?? err.message})`;
}
