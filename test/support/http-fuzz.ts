/**
 * HTTP request fuzzing against a running proxy (issue 11, item 4): mutated raw requests go in, and
 * a strict backend checks that everything the proxy sends upstream is a well-formed HTTP/1.1
 * request stream: a strict request line, token names, values without CR/LF/NUL, exactly one Host,
 * never both Content-Length and Transfer-Encoding, and a body that ends where its framing says.
 * Bytes that fail that parse are the ambiguity a smuggling attack needs.
 */
import net from "node:net";
import { mutate, randomText, Rng } from "./fuzz.ts";

export const HTTP_SEEDS = [
  "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
  "GET /a/b?c=d&e=%20 HTTP/1.1\r\nHost: h:8080\r\nAccept: */*\r\nX-A: 1\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n",
  "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
  "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
  "PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\n\r\nabc",
  "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  "HEAD / HTTP/1.0\r\n\r\n",
  "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n",
  "DELETE /r HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.2.3.4, 5.6.7.8\r\nForwarded: for=9.9.9.9\r\nTE: trailers\r\nContent-Length: 0\r\n\r\n",
];

export const HTTP_DICTIONARY = [
  "\r\n",
  "\n",
  "\r",
  "\r\n\r\n",
  " ",
  "\t",
  ":",
  ": ",
  "\0",
  "HTTP/1.1",
  "HTTP/1.0",
  "HTTP/2.0",
  "GET ",
  "POST ",
  "CONNECT ",
  "OPTIONS * ",
  "Host: ",
  "Host: other\r\n",
  "Content-Length: ",
  "Content-Length: 0\r\n",
  "Content-Length: 99\r\n",
  "Transfer-Encoding: chunked\r\n",
  "Transfer-Encoding: identity\r\n",
  "chunked",
  "0\r\n\r\n",
  "ffffffff\r\n",
  "Connection: close\r\n",
  "Upgrade: h2c\r\n",
  "Expect: 100-continue\r\n",
  "http://other.example/",
  "#",
  "?",
  "%00",
  "%2e%2e/",
  "/../",
  "\\",
  "\x7f",
  "\xff",
  "\u00e9",
  "X-A: a\r\n b\r\n",
  "Cookie: ",
  ",",
];

export interface Violation {
  why: string;
  /** What the backend received on that connection, shortened. */
  bytes: string;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\/[^\s]*|\*) HTTP\/1\.1$/;

/**
 * Parses as many complete requests from the start of `buf` as there are; returns how many bytes
 * they took, or a violation. An incomplete request at the end is left for later.
 */
export function strictParse(buf: string): { used: number; requests: number } | { why: string } {
  let pos = 0;
  let requests = 0;
  for (;;) {
    const end = buf.indexOf("\r\n\r\n", pos);
    if (end < 0) return { used: pos, requests };
    const lines = buf.slice(pos, end).split("\r\n");
    if (!REQUEST_LINE.test(lines[0]!)) return { why: `request line ${JSON.stringify(lines[0]!.slice(0, 80))}` };
    let hosts = 0;
    let length: number | null = null;
    let chunked = false;
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1);
      if (colon <= 0 || !TOKEN.test(name)) return { why: `header line ${JSON.stringify(line.slice(0, 80))}` };
      if (/[\r\n\0]/.test(value)) return { why: `control character in ${name}` };
      const lower = name.toLowerCase();
      if (lower === "host") hosts++;
      if (lower === "content-length") {
        if (length !== null || !/^ ?\d{1,15}$/.test(value)) return { why: `Content-Length ${JSON.stringify(value)}` };
        length = Number(value);
      }
      if (lower === "transfer-encoding") {
        if (value.trim().toLowerCase() !== "chunked" || chunked) return { why: `Transfer-Encoding ${JSON.stringify(value)}` };
        chunked = true;
      }
    }
    if (hosts !== 1) return { why: `${hosts} Host headers` };
    if (chunked && length !== null) return { why: "both Content-Length and Transfer-Encoding" };
    let at = end + 4;
    if (length !== null) {
      if (buf.length < at + length) return { used: pos, requests };
      at += length;
    } else if (chunked) {
      for (;;) {
        const eol = buf.indexOf("\r\n", at);
        if (eol < 0) return { used: pos, requests };
        const size = buf.slice(at, eol);
        if (!/^[0-9a-f]{1,8}$/.test(size)) return { why: `chunk size ${JSON.stringify(size.slice(0, 20))}` };
        const n = parseInt(size, 16);
        if (buf.length < eol + 2 + n + 2) return { used: pos, requests };
        if (buf.slice(eol + 2 + n, eol + 4 + n) !== "\r\n") return { why: "chunk data not followed by CRLF" };
        at = eol + 4 + n;
        if (n === 0) break;
      }
    }
    pos = at;
    requests++;
  }
}

export interface StrictBackend extends Disposable {
  readonly port: number;
  readonly violations: Violation[];
  /** Complete requests received. */
  readonly requests: number;
  stop(): void;
}

/** A backend that answers each complete request with `200 ok` and records every violation. */
export async function strictBackend(): Promise<StrictBackend> {
  const violations: Violation[] = [];
  let requests = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    let pending = "";
    let broken = false;
    socket.on("data", (d) => {
      if (broken) return;
      pending += d.toString("latin1");
      const result = strictParse(pending);
      if ("why" in result) {
        broken = true;
        violations.push({ why: result.why, bytes: pending.slice(0, 300) });
        socket.destroy();
        return;
      }
      pending = pending.slice(result.used);
      requests += result.requests;
      for (let i = 0; i < result.requests; i++) socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    });
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const stop = () => {
    for (const s of sockets) s.destroy();
    server.close();
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    violations,
    get requests() {
      return requests;
    },
    stop,
    [Symbol.dispose]: stop,
  };
}

export interface HttpFuzzStats {
  sent: number;
  /** Answers by status (0: the connection closed or timed out without a status line). */
  statuses: Record<number, number>;
}

/** Sends `count` mutated requests, `concurrency` at a time, each on its own connection. */
export async function fuzzHttp(port: number, opts: { seed: number; count: number; concurrency: number; timeoutMs: number }): Promise<HttpFuzzStats> {
  const rng = new Rng(opts.seed);
  const stats: HttpFuzzStats = { sent: 0, statuses: {} };
  const next = () => (rng.chance(0.1) ? randomText(rng, HTTP_DICTIONARY, 300) : mutate(rng, rng.pick(HTTP_SEEDS), HTTP_DICTIONARY));
  const one = (bytes: string) =>
    new Promise<number>((resolve) => {
      let text = "";
      const socket = net.connect(port, "127.0.0.1", () => socket.write(Buffer.from(bytes, "latin1")));
      const timer = setTimeout(() => socket.destroy(), opts.timeoutMs);
      socket.on("data", (d) => {
        text += d.toString("latin1");
        // One answer is enough; do not wait for the keep-alive timeout.
        if (/^HTTP\/1\.[01] \d{3} /.test(text) && text.includes("\r\n\r\n")) socket.destroy();
      });
      socket.on("error", () => {});
      socket.on("close", () => {
        clearTimeout(timer);
        resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0));
      });
    });
  const worker = async () => {
    while (stats.sent < opts.count) {
      stats.sent++;
      const status = await one(next());
      stats.statuses[status] = (stats.statuses[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  return stats;
}
