/**
 * The floor of any proxy built like soli-proxy (Bun.serve in front, Bun.connect keep-alive sockets
 * behind): a relay with no logic at all. It sends `GET <path>` with one header on a pooled upstream
 * connection and answers with the upstream's status, two fixed headers and the body of the first
 * packet. No routing, no header copying, no limits, no client address, no timers, no metrics: it
 * is only correct for the 12-byte benchmark (a response that arrives whole, Content-Length framed),
 * and it exists to show how much of soli-proxy's CPU per request is the runtime and the kernel
 * rather than its own request path (bench/compare.ts --proxies floor).
 *
 *   bun bench/relay-floor.ts <port> <upstream-port> [tls-port]   (TLS_CERT, TLS_KEY for tls-port)
 */
import type { Socket } from "bun";

const port = Number(process.argv[2]);
const upstreamPort = Number(process.argv[3]);
const tlsPort = process.argv[4] ? Number(process.argv[4]) : null;

interface Upstream {
  socket: Socket<Upstream> | null;
  resolve: ((response: Response) => void) | null;
}

const idle: Upstream[] = [];
const CRLFCRLF = Buffer.from("\r\n\r\n");
const HEADERS = { "content-type": "text/plain", server: "relay-floor" };

function open(): Promise<Upstream> {
  return new Promise((resolve, reject) => {
    const up: Upstream = { socket: null, resolve: null };
    Bun.connect<Upstream>({
      hostname: "127.0.0.1",
      port: upstreamPort,
      data: up,
      socket: {
        open(socket) {
          up.socket = socket;
          resolve(up);
        },
        data(socket, data) {
          const u = socket.data;
          const answer = u.resolve;
          u.resolve = null;
          idle.push(u);
          const status = Number(data.toString("latin1", 9, 12));
          answer?.(new Response(data.subarray(data.indexOf(CRLFCRLF) + 4), { status, headers: HEADERS }));
        },
        close(socket) {
          const i = idle.indexOf(socket.data);
          if (i >= 0) idle.splice(i, 1);
          socket.data.resolve?.(new Response(null, { status: 502 }));
        },
        connectError(_socket, error) {
          reject(error);
        },
      },
    }).catch(reject);
  });
}

function send(up: Upstream, head: string): Promise<Response> {
  return new Promise((resolve) => {
    up.resolve = resolve;
    up.socket!.write(head);
  });
}

function relay(req: Request): Promise<Response> {
  const url = req.url;
  const head = `GET ${url.slice(url.indexOf("/", url.indexOf("//") + 2))} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`;
  const up = idle.pop();
  return up ? send(up, head) : open().then((u) => send(u, head));
}

Bun.serve({ port, hostname: "127.0.0.1", development: false, fetch: relay });
if (tlsPort !== null) {
  const tls = { cert: Bun.file(process.env.TLS_CERT!), key: Bun.file(process.env.TLS_KEY!) };
  Bun.serve({ port: tlsPort, hostname: "127.0.0.1", development: false, http2: true, tls, fetch: relay } as Parameters<typeof Bun.serve>[0]);
}
console.log(`relay floor on ${port}${tlsPort === null ? "" : ` and ${tlsPort} (TLS, h2)`} -> 127.0.0.1:${upstreamPort}`);
