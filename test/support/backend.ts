/**
 * Real backends for tests: a Bun.serve app on port 0 that records what it received, and a raw
 * TCP server for exact bytes in both directions.
 */
import type { Server } from "bun";
import net from "node:net";

export interface Seen {
  method: string;
  url: string;
  path: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

export interface TestBackend extends Disposable {
  readonly port: number;
  readonly url: string;
  readonly seen: Seen[];
  readonly server: Server<unknown>;
  stop(): void;
}

/** A backend that records each request and answers with `handler` (default: echo of what it saw). */
export function backend(handler?: (req: Request, seen: Seen) => Response | Promise<Response>, tls?: { cert: string; key: string }): TestBackend {
  const seen: Seen[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    tls,
    idleTimeout: 30,
    async fetch(req) {
      const url = new URL(req.url);
      const body = handler?.length === 2 || !handler ? new Uint8Array(await req.arrayBuffer()) : new Uint8Array();
      const entry: Seen = { method: req.method, url: url.pathname + url.search, path: url.pathname, headers: Object.fromEntries(req.headers), body };
      seen.push(entry);
      if (handler) return handler(req, entry);
      return Response.json({ method: entry.method, url: entry.url, headers: entry.headers, bodyLength: body.length });
    },
  });
  const stop = () => server.stop(true);
  return { port: server.port!, url: `${tls ? "https" : "http"}://127.0.0.1:${server.port}`, seen, server, stop, [Symbol.dispose]: stop };
}

export interface RawBackend extends Disposable {
  readonly port: number;
  /** Every byte each connection sent, one string (latin1) per connection. */
  readonly received: string[];
  readonly connections: number;
  /** Connections that have closed (either side). */
  readonly closed: number;
  stop(): void;
}

/**
 * A TCP server that answers each connection with `reply(requestText, socket)`. It is called once
 * the request head (and any Content-Length body) has arrived.
 */
export async function rawBackend(reply: (request: string, socket: net.Socket) => void): Promise<RawBackend> {
  const received: string[] = [];
  let connections = 0;
  let closed = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    const index = received.push("") - 1;
    let pending = "";
    socket.on("data", (d) => {
      received[index] += d.toString("latin1");
      pending += d.toString("latin1");
      for (;;) {
        const end = pending.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = pending.slice(0, end + 4);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        const request = pending.slice(0, end + 4 + length);
        pending = pending.slice(end + 4 + length);
        reply(request, socket);
      }
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      closed++;
      sockets.delete(socket);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const stop = () => {
    for (const s of sockets) s.destroy();
    server.close();
  };
  return {
    port,
    received,
    get connections() {
      return connections;
    },
    get closed() {
      return closed;
    },
    stop,
    [Symbol.dispose]: stop,
  };
}
