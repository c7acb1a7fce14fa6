/**
 * Small load generators for the abuse tests and bench/soak.ts: keep-alive HTTP/1.1 clients on raw
 * sockets (which can bind another loopback source address, to play a second client IP), and the
 * latency of a legitimate client measured while an attack runs.
 */
import net from "node:net";

export interface LoadResult {
  /** Responses by status code. */
  statuses: Record<number, number>;
  /** Milliseconds per request, in completion order. */
  latencies: number[];
  /** The same latencies by status code. */
  latencyByStatus: Record<number, number[]>;
  /** Connections that failed or closed before their response was complete. */
  errors: number;
}

/** The p-th percentile (0–100) of `values`, nearest rank; 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * Sends `requests` GETs for `path` over `connections` keep-alive sockets, one request at a time per
 * socket; a socket the server closes is replaced. Responses must carry Content-Length (or none).
 */
export async function keepAliveLoad(opts: {
  port: number;
  path: string;
  connections: number;
  requests: number;
  localAddress?: string;
  timeoutMs?: number;
}): Promise<LoadResult> {
  const result: LoadResult = { statuses: {}, latencies: [], latencyByStatus: {}, errors: 0 };
  let sent = 0;
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  const request = Buffer.from(`GET ${opts.path} HTTP/1.1\r\nHost: load\r\n\r\n`, "latin1");

  const worker = async () => {
    while (sent < opts.requests && Date.now() < deadline) {
      const done = await new Promise<number>((resolve) => {
        let buf: Buffer = Buffer.alloc(0);
        let started = 0;
        let finished = 0;
        let waiting = false;
        const socket = net.connect({ port: opts.port, host: "127.0.0.1", localAddress: opts.localAddress });
        const next = () => {
          if (sent >= opts.requests || Date.now() >= deadline) return socket.end();
          sent++;
          waiting = true;
          started = performance.now();
          socket.write(request);
        };
        socket.on("connect", next);
        socket.on("data", (d: Buffer) => {
          buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
          for (;;) {
            const end = buf.indexOf("\r\n\r\n");
            if (end < 0) return;
            const head = buf.subarray(0, end).toString("latin1");
            const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
            if (buf.length < end + 4 + length) return;
            buf = buf.subarray(end + 4 + length);
            const status = Number(head.slice(9, 12));
            result.statuses[status] = (result.statuses[status] ?? 0) + 1;
            const ms = performance.now() - started;
            result.latencies.push(ms);
            (result.latencyByStatus[status] ??= []).push(ms);
            waiting = false;
            finished++;
            if (/\r\nconnection: *close/i.test(head)) return socket.end();
            next();
          }
        });
        socket.on("error", () => {});
        socket.on("close", () => {
          if (waiting) result.errors++;
          resolve(finished);
        });
      });
      if (done === 0 && Date.now() < deadline) await Bun.sleep(5); // reconnect pace after a refused connection
    }
  };
  await Promise.all(Array.from({ length: opts.connections }, worker));
  return result;
}

/** Latencies of `count` sequential GETs of `url` by one keep-alive client; throws on a non-200. */
export async function legitLatencies(url: string, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const res = await fetch(url);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`legitimate request ${i} got ${res.status}`);
    out.push(performance.now() - started);
  }
  return out;
}
