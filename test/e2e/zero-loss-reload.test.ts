import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import http2 from "node:http2";
import { backend } from "../support/backend.ts";
import { startTestProxy } from "../support/project.ts";
import { rawRequest } from "../support/raw.ts";
import { waitFor } from "../support/wait.ts";
import { wsBackend, wsConnect } from "../support/ws.ts";

const REWRITES = 50;
/** Upper bound per client loop, so the test stays bounded even if reloads were slow. */
const MAX_PER_LOOP = 3000;

/** Status and body of a raw HTTP/1.1 response (Content-Length or chunked). */
function parseRaw(text: string): string {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return `no response: ${JSON.stringify(text.slice(0, 80))}`;
  const head = text.slice(0, end);
  let body = text.slice(end + 4);
  if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
    let out = "";
    for (let at = 0; ; ) {
      const lineEnd = body.indexOf("\r\n", at);
      const size = parseInt(body.slice(at, lineEnd), 16);
      if (!size) break;
      out += body.slice(lineEnd + 2, lineEnd + 2 + size);
      at = lineEnd + 2 + size + 2;
    }
    body = out;
  }
  return `${/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? "???"} ${body}`;
}

function h2Get(session: http2.ClientHttp2Session): Promise<string> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":path": "/", ":authority": "zero-loss.test" });
    let status = 0;
    let data = "";
    stream.on("response", (h) => (status = Number(h[":status"])));
    stream.setEncoding("utf8");
    stream.on("data", (d) => (data += d));
    stream.on("end", () => resolve(`${status} ${data}`));
    stream.on("error", reject);
    stream.end();
  });
}

describe("zero-loss reload (SPEC §13)", () => {
  test("no request fails while proxy.conf is rewritten 50 times, valid and invalid alternately, over HTTP/1.1 keep-alive, new connections and h2c, and a WebSocket stays open", async () => {
    // Generation g routes to A (even) or B (odd) and stamps X-Gen: g, so every answer names the
    // one configuration that served it: "A:4" is right, "B:4" would be a request that saw two.
    using a = backend((req) => new Response(`A:${req.headers.get("x-gen")}`));
    using b = backend((req) => new Response(`B:${req.headers.get("x-gen")}`));
    using echo = wsBackend();
    // The /ws rule is the same in every generation: its tunnel must survive all the reloads.
    const confFor = (gen: number) => `headers {\n    X-Gen: ${gen}\n}\n/ws -> ${echo.url}\ndefault -> ${gen % 2 === 0 ? a.url : b.url}\n`;
    await using proxy = await startTestProxy(confFor(0));
    using tunnel = await wsConnect(proxy.url.replace("http", "ws") + "/ws");
    const correct = new Set(["200 A:0"]);
    const answers: { kind: string; answer: string }[] = [];
    const failures: string[] = [];
    let running = true;

    const loop = async (kind: string, once: () => Promise<string>) => {
      for (let n = 0; running && n < MAX_PER_LOOP; n++) {
        try {
          answers.push({ kind, answer: await once() });
        } catch (err) {
          failures.push(`${kind}: ${(err as Error).message}`);
        }
      }
    };
    const keepAlive = () => fetch(proxy.url).then(async (r) => `${r.status} ${await r.text()}`);
    const freshConnection = () => rawRequest(proxy.handle.http.port, "GET / HTTP/1.1\r\nHost: zero-loss.test\r\nConnection: close\r\n\r\n").then(parseRaw);
    const sessions = [http2.connect(proxy.url), http2.connect(proxy.url)];
    for (const s of sessions) s.on("error", (err) => failures.push(`h2 session: ${err.message}`));

    const clients = [
      ...Array.from({ length: 4 }, () => loop("http/1.1 keep-alive", keepAlive)),
      ...Array.from({ length: 2 }, () => loop("http/1.1 new connection", freshConnection)),
      ...sessions.flatMap((s) => [loop("h2c", () => h2Get(s)), loop("h2c", () => h2Get(s))]),
    ];

    const results: boolean[] = [];
    for (let gen = 1; gen <= REWRITES; gen++) {
      const valid = gen % 2 === 1;
      writeFileSync(proxy.project.conf, valid ? confFor(gen) : `${confFor(gen)}/broken -> nope://x\n`);
      const served = answers.length;
      const result = await proxy.handle.reload();
      results.push(result.ok);
      tunnel.ws.send(`after rewrite ${gen}`);
      if (valid) correct.add(`200 ${gen % 2 === 0 ? "A" : "B"}:${gen}`);
      // Let traffic run on each configuration before the next rewrite.
      await waitFor(() => answers.length >= served + 8, `traffic after rewrite ${gen}`);
    }
    running = false;
    await Promise.all(clients);
    const echoes = await tunnel.received(REWRITES);
    for (const s of sessions) s.close();

    const wrong = answers.filter((x) => !correct.has(x.answer));
    const kinds = new Set(answers.map((x) => x.kind));
    const generations = new Set(answers.map((x) => x.answer));
    expect({
      failures,
      wrong: wrong.slice(0, 5),
      accepted: results.filter(Boolean).length,
      rejected: results.filter((r) => !r).length,
      kinds: [...kinds].sort(),
      manyGenerations: generations.size >= 20,
      version: proxy.handle.current().version,
      final: await keepAlive(),
      tunnelOpen: tunnel.ws.readyState === WebSocket.OPEN,
      echoesInOrder: echoes.map(String).join("|") === Array.from({ length: REWRITES }, (_, i) => `after rewrite ${i + 1}`).join("|"),
    }).toEqual({
      failures: [],
      wrong: [],
      accepted: 25,
      rejected: 25,
      kinds: ["h2c", "http/1.1 keep-alive", "http/1.1 new connection"],
      manyGenerations: true,
      version: 26,
      final: "200 B:49",
      tunnelOpen: true,
      echoesInOrder: true,
    });
  });
});
