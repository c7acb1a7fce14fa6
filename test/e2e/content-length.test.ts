/**
 * Upstream bodies keep their Content-Length up to limits.buffer_response_max (default 1 MiB):
 * Bun.serve would send a streamed body chunked (oven-sh/bun#10507), so such bodies are read whole
 * first (src/proxy/whole-body.ts). Above the bound, and for a body slower than the wait, the
 * answer streams.
 */
import { describe, expect, test } from "bun:test";
import { backend, rawBackend } from "../support/backend.ts";
import { startTestProxy, testToml } from "../support/project.ts";
import { rawRequest, statusOf } from "../support/raw.ts";
import { waitFor } from "../support/wait.ts";

const sha = (data: Uint8Array | string) => new Bun.CryptoHasher("sha256").update(data).digest("hex");

/** Status, how the body was framed, and the body's bytes of a raw HTTP/1.1 response. */
function parse(text: string): { status: number; length: string | null; chunked: boolean; body: string } {
  const end = text.indexOf("\r\n\r\n");
  const head = text.slice(0, end).toLowerCase();
  const chunked = /\r\ntransfer-encoding: chunked/.test(head);
  let body = text.slice(end + 4);
  if (chunked) {
    let out = "";
    for (let at = 0; ; ) {
      const line = body.indexOf("\r\n", at);
      const size = Number.parseInt(body.slice(at, line), 16);
      if (!(size > 0)) break;
      out += body.slice(line + 2, line + 2 + size);
      at = line + 2 + size + 2;
    }
    body = out;
  }
  return { status: statusOf(text), length: /\r\ncontent-length: (\d+)/.exec(head)?.[1] ?? null, chunked, body };
}

const get = (port: number, path: string, method = "GET") =>
  rawRequest(port, `${method} ${path} HTTP/1.1\r\nHost: cl.test\r\nConnection: close\r\n\r\n`).then(parse);

describe("Content-Length kept up to limits.buffer_response_max (SPEC §5.7)", () => {
  const sizes = { small: 100, "100k": 100 * 1024, "1m": 1024 * 1024, "2m": 2 * 1024 * 1024 };
  const bodies = Object.fromEntries(Object.entries(sizes).map(([name, n]) => [name, Buffer.alloc(n, name.charCodeAt(0)).toString("latin1")]));

  test("bodies up to 1 MiB arrive with the upstream's length, larger ones stream, every byte intact and logged", async () => {
    using b = backend((req) => new Response(bodies[new URL(req.url).pathname.slice(1)]));
    await using proxy = await startTestProxy(`cl.test -> ${b.url}`, { toml: "[logging]\nlog_endpoints = true" });
    const port = Number(new URL(proxy.url).port);
    const results = [];
    for (const name of Object.keys(sizes)) {
      const r = await get(port, `/${name}`);
      results.push([name, r.status, r.length, r.chunked, r.body.length, sha(r.body) === sha(bodies[name]!)]);
    }
    expect(results).toEqual([
      ["small", 200, "100", false, 100, true],
      ["100k", 200, "102400", false, 102400, true],
      ["1m", 200, "1048576", false, 1048576, true],
      ["2m", 200, null, true, 2097152, true],
    ]);
    // Each request completes its record: one endpoint line with the bytes relayed.
    const lines = await waitFor(() => {
      const found = proxy.logs().filter((l) => l.layer === "endpoint");
      return found.length === 4 ? found : null;
    }, "four endpoint log lines");
    expect(lines.map((l) => [l.path, l.status, l.bytes])).toEqual(Object.entries(sizes).map(([name, n]) => [`/${name}`, 200, n]));
  });

  test("a HEAD answer keeps the upstream's length without a body", async () => {
    using b = backend(() => new Response(bodies["100k"]));
    await using proxy = await startTestProxy(`cl.test -> ${b.url}`);
    const r = await get(Number(new URL(proxy.url).port), "/x", "HEAD");
    expect([r.status, r.length, r.body]).toEqual([200, "102400", ""]);
  });

  test("limits.buffer_response_max lowers the bound; 0 streams every body above Bun's write buffer", async () => {
    using b = backend(() => new Response(bodies["100k"]));
    const framing = [];
    for (const bound of ["64KB", "0"]) {
      await using proxy = await startTestProxy(`cl.test -> ${b.url}`, {
        rawToml: testToml(`[limits]\nbuffer_response_max = ${bound === "0" ? 0 : `"${bound}"`}`),
      });
      const r = await get(Number(new URL(proxy.url).port), "/x");
      framing.push([bound, r.length, r.chunked, r.body.length]);
    }
    expect(framing).toEqual([
      ["64KB", null, true, 102400],
      ["0", null, true, 102400],
    ]);
  });

  test("a body that does not arrive whole within a second streams what came, then the rest", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const half = "a".repeat(50_000);
    // A raw backend: Bun.serve would itself drop the length of a streamed body.
    using b = await rawBackend((_request, socket) => {
      socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n${half}`);
      void gate.then(() => socket.write(half));
    });
    await using proxy = await startTestProxy(`cl.test -> http://127.0.0.1:${b.port}`);
    let head = "";
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port: Number(new URL(proxy.url).port),
      socket: { data: (_s, d) => void (head += d.toString("latin1")) },
    });
    socket.write("GET /slow HTTP/1.1\r\nHost: cl.test\r\nConnection: close\r\n\r\n");
    // The head and the first half reach the client while the upstream still holds the second.
    await waitFor(() => head.includes("\r\n\r\n") && parse(head).body.length === 50_000, "the first half before the second is sent", 5000);
    release();
    await waitFor(() => parse(head).body.length === 100_000, "the whole body", 5000);
    socket.end();
    const r = parse(head);
    expect([r.status, r.length, r.chunked, r.body === half + half]).toEqual([200, null, true, true]);
  });
});
