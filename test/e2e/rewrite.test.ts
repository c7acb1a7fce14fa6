import { describe, expect, test } from "bun:test";
import { backend } from "../support/backend.ts";
import { startTestProxy } from "../support/project.ts";

const PAGE = `<html><head><SCRIPT src="/app.js"></SCRIPT><script>var s = '<a href="/in-script">';</script><link href="/style.css"></head>
<body><a href="/login">in</a><a href="//cdn.example/x">cdn</a><a href="https://abs.example/y">abs</a><a href="rel/z">rel</a><form action="/post"></form></body></html>`;
const EXPECTED = `<html><head><SCRIPT src="/app/app.js"></SCRIPT><script>var s = '<a href="/in-script">';</script><link href="/app/style.css"></head>
<body><a href="/app/login">in</a><a href="//cdn.example/x">cdn</a><a href="https://abs.example/y">abs</a><a href="rel/z">rel</a><form action="/app/post"></form></body></html>`;

/** A body delivered in 5-byte chunks, so attributes are split across chunk boundaries. */
function trickle(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.subarray(at, at + 5));
      at += 5;
    },
  });
}

describe("HTML of prefix mounts (SPEC §5.7)", () => {
  test("root-relative links get the mount, also when split across chunks, outside script bodies only", async () => {
    using b = backend(() => new Response(trickle(PAGE), { headers: { "content-type": "text/html; charset=utf-8" } }));
    await using proxy = await startTestProxy(`/app/* -> ${b.url}`);
    expect(await (await fetch(proxy.url + "/app/")).text()).toBe(EXPECTED);
  });

  test("gzip HTML is decoded, rewritten and sent uncompressed", async () => {
    using b = backend(() => new Response(Bun.gzipSync(Buffer.from(PAGE)), { headers: { "content-type": "text/html", "content-encoding": "gzip" } }));
    await using proxy = await startTestProxy(`site.test/app/* -> ${b.url}`);
    const res = await fetch(proxy.url + "/app/", { headers: { host: "site.test" }, decompress: false } as RequestInit);
    expect([res.headers.get("content-encoding"), await res.text()]).toEqual([null, EXPECTED]);
  });

  test("brotli HTML, non-HTML bodies and non-mount rules pass unchanged", async () => {
    const br = Bun.deflateSync(Buffer.from(PAGE)); // stands in for any encoding the proxy does not decode
    using b = backend((req) => {
      const p = new URL(req.url).pathname;
      if (p.endsWith("/br")) return new Response(br, { headers: { "content-type": "text/html", "content-encoding": "br" } });
      if (p.endsWith("/json")) return new Response('{"href":"/x"}', { headers: { "content-type": "application/json" } });
      return new Response(PAGE, { headers: { "content-type": "text/html" } });
    });
    await using proxy = await startTestProxy(`/app/* -> ${b.url}\ndefault -> ${b.url}`);
    const brBody = new Uint8Array(await (await fetch(proxy.url + "/app/br", { decompress: false } as RequestInit)).arrayBuffer());
    expect([Buffer.compare(brBody, br), await (await fetch(proxy.url + "/app/json")).text(), await (await fetch(proxy.url + "/page")).text()]).toEqual([
      0,
      '{"href":"/x"}',
      PAGE,
    ]);
  });
});
