/**
 * WebSocket test parts: a real backend (Bun.serve) that echoes and obeys commands, and a client
 * that collects what it receives so tests can await conditions instead of sleeping.
 */
import type { Server, ServerWebSocket } from "bun";
import net from "node:net";
import { waitFor } from "./wait.ts";

export interface Handshake {
  url: string;
  headers: Record<string, string>;
}

export interface WsBackend extends Disposable {
  readonly port: number;
  /** `ws://127.0.0.1:<port>` (or wss). */
  readonly url: string;
  readonly handshakes: Handshake[];
  /** Code and reason of every close the backend saw. */
  readonly closes: [number, string][];
  /** Sockets open right now. */
  readonly sockets: Set<ServerWebSocket<unknown>>;
  readonly server: Server<unknown>;
  stop(): void;
}

export interface WsBackendOptions {
  /** Subprotocols the backend supports; it picks the first offered one it knows. */
  protocols?: string[];
  /** Messages sent as soon as a client connects. */
  greeting?: (string | Uint8Array)[];
  tls?: { cert: string; key: string };
}

/**
 * Echoes every message with its type. Text commands: `cmd:close:<code>:<reason>` closes,
 * `cmd:terminate` drops the TCP connection, `cmd:flood:<count>:<bytes>` sends that many binary
 * messages whose first 4 bytes are a sequence number, `cmd:pause` stops reading (tests resume
 * through `sockets`).
 */
export function wsBackend(opts: WsBackendOptions = {}): WsBackend {
  const handshakes: Handshake[] = [];
  const closes: [number, string][] = [];
  const sockets = new Set<ServerWebSocket<unknown>>();
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    tls: opts.tls,
    fetch(req, srv) {
      const url = new URL(req.url);
      handshakes.push({ url: url.pathname + url.search, headers: req.headers.toJSON() });
      if (url.pathname.endsWith("/reject")) return new Response("go away", { status: 403 });
      const offered = (req.headers.get("sec-websocket-protocol") ?? "").split(",").map((p) => p.trim());
      const chosen = offered.find((p) => opts.protocols?.includes(p));
      if (srv.upgrade(req, { data: undefined, headers: chosen ? { "sec-websocket-protocol": chosen } : undefined })) return undefined;
      return new Response("not a websocket", { status: 400 });
    },
    websocket: {
      maxPayloadLength: 64 * 1024 * 1024,
      backpressureLimit: 256 * 1024 * 1024,
      open(ws) {
        sockets.add(ws);
        for (const m of opts.greeting ?? []) ws.send(m);
      },
      message(ws, m) {
        if (typeof m === "string" && m.startsWith("cmd:")) {
          const [, name, a, b] = m.split(":");
          if (name === "close") ws.close(Number(a), b ?? "");
          else if (name === "terminate") ws.terminate();
          else if (name === "pause") ws.pause();
          else if (name === "flood") {
            for (let i = 0; i < Number(a); i++) {
              const msg = new Uint8Array(Number(b));
              new DataView(msg.buffer).setUint32(0, i);
              ws.send(msg);
            }
          }
          return;
        }
        ws.send(m);
      },
      close(ws, code, reason) {
        sockets.delete(ws);
        closes.push([code, reason]);
      },
    },
  });
  const stop = () => server.stop(true);
  return {
    port: server.port!,
    url: `${opts.tls ? "wss" : "ws"}://127.0.0.1:${server.port}`,
    handshakes,
    closes,
    sockets,
    server,
    stop,
    [Symbol.dispose]: stop,
  };
}

export interface WsClient extends Disposable {
  readonly ws: WebSocket;
  readonly messages: (string | Buffer)[];
  /** Resolves with the close code and reason. */
  readonly closed: Promise<[number, string]>;
  /** Waits until at least `n` messages arrived; returns them all. */
  received(n: number, timeoutMs?: number): Promise<(string | Buffer)[]>;
}

/** Opens a client; rejects with the error message when the handshake fails. */
export function wsConnect(url: string, opts: { protocols?: string[]; headers?: Record<string, string> } = {}): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { protocols: opts.protocols, headers: opts.headers, tls: { rejectUnauthorized: false } });
    ws.binaryType = "nodebuffer";
    const messages: (string | Buffer)[] = [];
    let closedWith: (v: [number, string]) => void;
    const closed = new Promise<[number, string]>((r) => (closedWith = r));
    ws.onmessage = (e) => messages.push(e.data as string | Buffer);
    ws.onclose = (e) => closedWith([e.code, e.reason]);
    ws.onerror = (e) => reject(new Error((e as ErrorEvent).message));
    ws.onopen = () =>
      resolve({
        ws,
        messages,
        closed,
        received: (n, timeoutMs = 5000) =>
          waitFor(() => (messages.length >= n ? messages : null), `${n} WebSocket messages (have ${messages.length})`, timeoutMs, 5),
        [Symbol.dispose]: () => ws.terminate(),
      });
  });
}

/**
 * Sends a WebSocket handshake over a raw socket and returns the status and body of the answer
 * (for refusals; fetch() will not send Upgrade requests). `url` is `http://host:port/path`.
 */
export function refusedUpgrade(url: string, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<[number, string]> {
  const u = new URL(url);
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  const request = `GET ${u.pathname}${u.search} HTTP/1.1\r\nhost: ${u.host}\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;
  return new Promise((resolve, reject) => {
    let text = "";
    const socket = net.connect(Number(u.port), u.hostname, () => socket.write(request));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer to the upgrade within ${timeoutMs} ms: ${JSON.stringify(text)}`));
    }, timeoutMs);
    socket.on("data", (d) => {
      text += d.toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
      if (text.length < end + 4 + length) return;
      clearTimeout(timer);
      socket.destroy();
      resolve([Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text.slice(end + 4, end + 4 + length)]);
    });
    socket.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
