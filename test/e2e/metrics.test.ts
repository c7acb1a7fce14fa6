import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { backend } from "../support/backend.ts";
import { startTestProxy } from "../support/project.ts";
import { promtool, SPEC_NAME_LINTS } from "../support/promtool.ts";
import { waitFor } from "../support/wait.ts";

/** Sample lines of the metrics page as name{labels} → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

async function scrape(url: string): Promise<{ status: number; type: string | null; text: string }> {
  const r = await fetch(url + "/metrics");
  return { status: r.status, type: r.headers.get("content-type"), text: await r.text() };
}

describe("metrics on the proxy listeners (SPEC §10)", () => {
  test("requests are counted by status, route and upstream, and Prometheus parses the page", async () => {
    using b = backend((req) => (new URL(req.url).pathname === "/missing" ? new Response("no", { status: 404 }) : new Response("hello")));
    await using proxy = await startTestProxy(`/api/* -> ${b.url}\n~^/users/(\\d+)$ -> ${b.url}/u/$1\n`);
    for (const p of ["/api/a", "/api/missing", "/users/7", "/nowhere", "/health/live"]) await (await fetch(proxy.url + p)).text();
    const page = await scrape(proxy.url);
    const s = samples(page.text);
    const upstream = `http://127.0.0.1:${b.port}`;
    expect(page.status).toBe(200);
    expect(page.type).toBe("text/plain; version=0.0.4");
    expect({
      total: s.get("proxy_requests_total"),
      inFlight: s.get("proxy_requests_in_flight"),
      codes: [200, 404, 421].map((c) => s.get(`proxy_response_status_codes_total{code="${c}"}`)),
      sent: s.get("proxy_bytes_sent"),
      api: s.get(`proxy_request_duration_seconds_count{route="/api/*",upstream="${upstream}"}`),
      regex: s.get(`proxy_request_duration_seconds_count{route="~^/users/(\\\\d+)$",upstream="${upstream}"}`),
      unrouted: s.get('proxy_request_duration_seconds_count{route="none",upstream="none"}'),
      internal: s.get('proxy_request_duration_seconds_count{route="internal",upstream="none"}'),
      upstream200: s.get(`proxy_upstream_requests_total{upstream="${upstream}",code="200"}`),
      upstream404: s.get(`proxy_upstream_requests_total{upstream="${upstream}",code="404"}`),
      errors: s.get("proxy_errors_total"),
    }).toEqual({
      total: 5,
      inFlight: 1, // the scrape itself
      codes: [3, 1, 1],
      sent: 5 + 2 + 5 + "Misdirected Request".length + 2,
      api: 2,
      regex: 1,
      unrouted: 1,
      internal: 1,
      upstream200: 2,
      upstream404: 1,
      errors: 0,
    });
    const checked = await promtool(page.text);
    if (checked === null) console.warn("promtool not installed (Debian package prometheus): parse check skipped");
    else expect({ code: checked.code === 3 ? 0 : checked.code, lines: checked.output.split("\n") }).toEqual({ code: 0, lines: SPEC_NAME_LINTS });
  });

  test("peers outside metrics.allow get 403, whatever X-Forwarded-For says; disabled metrics are routed", async () => {
    using b = backend(() => new Response("from backend"));
    await using closed = await startTestProxy(`default -> ${b.url}\n`, {
      server: 'trusted_proxies = ["127.0.0.1"]',
      toml: '[metrics]\nallow = ["10.0.0.0/8"]\nendpoint = "/_stats"\n',
    });
    const r = await fetch(closed.url + "/_stats", { headers: { "x-forwarded-for": "10.1.2.3" } });
    await using off = await startTestProxy(`default -> ${b.url}\n`, { toml: "[metrics]\nenabled = false\n" });
    const routed = await fetch(off.url + "/metrics");
    expect([r.status, await r.text(), routed.status, await routed.text()]).toEqual([403, "Forbidden", 200, "from backend"]);
  });

  test("bytes in and out include request bodies and streamed responses, counted when they end", async () => {
    using b = backend(async (req) => {
      await req.arrayBuffer();
      return new Response(
        new ReadableStream({
          async start(c) {
            c.enqueue(new Uint8Array(40_000));
            await Bun.sleep(20); // the body in two reads, apart: a streamed response is the case under test
            c.enqueue(new Uint8Array(10_000));
            c.close();
          },
        }),
      );
    });
    await using proxy = await startTestProxy(`default -> ${b.url}\n`);
    await (await fetch(proxy.url + "/upload", { method: "POST", body: new Uint8Array(1234) })).arrayBuffer();
    const chunked = new ReadableStream({
      start(c) {
        c.enqueue(new Uint8Array(300));
        c.enqueue(new Uint8Array(700));
        c.close();
      },
    });
    await (await fetch(proxy.url + "/upload", { method: "POST", body: chunked })).arrayBuffer();
    // A page counts the bytes of every earlier scrape but not its own (recorded once it is sent).
    let earlierPages = 0;
    const s = await waitFor(async () => {
      const text = (await scrape(proxy.url)).text;
      const m = samples(text);
      if (m.get(`proxy_request_duration_seconds_count{route="default",upstream="http://127.0.0.1:${b.port}"}`) === 2) return m;
      earlierPages += Buffer.byteLength(text);
      return null;
    }, "both requests recorded");
    expect([s.get("proxy_bytes_received"), s.get(`proxy_upstream_requests_total{upstream="http://127.0.0.1:${b.port}",code="200"}`)]).toEqual([1234 + 1000, 2]);
    expect(s.get("proxy_bytes_sent")! - earlierPages).toBe(100_000);
  });

  test("transport errors count per upstream and as proxy errors", async () => {
    await using proxy = await startTestProxy("default -> http://127.0.0.1:1\n");
    const r = await fetch(proxy.url + "/x");
    await r.text();
    const s = samples((await scrape(proxy.url)).text);
    expect([
      r.status,
      s.get('proxy_upstream_errors_total{upstream="http://127.0.0.1:1"}'),
      s.get("proxy_errors_total"),
      s.get('proxy_response_status_codes_total{code="502"}'),
    ]).toEqual([502, 1, 1, 1]);
  });

  test("reload attempts are counted by result", async () => {
    using b = backend();
    await using proxy = await startTestProxy(`default -> ${b.url}\n`);
    await proxy.handle.reload();
    writeFileSync(proxy.project.conf, "default -> ftp://nope\n");
    await proxy.handle.reload();
    const s = samples((await scrape(proxy.url)).text);
    expect([s.get('proxy_config_reloads_total{result="success"}'), s.get('proxy_config_reloads_total{result="failure"}')]).toEqual([1, 1]);
  });

  test("TLS connections are counted once per connection, not per request", async () => {
    using b = backend();
    await using proxy = await startTestProxy(`default -> ${b.url}\n`);
    const curl = async (urls: string[]) => {
      const p = Bun.spawn(["curl", "-sk", "-o", "/dev/null", "-o", "/dev/null", ...urls], { stdout: "ignore", stderr: "ignore" });
      return p.exited;
    };
    expect(await curl([`${proxy.httpsUrl}/a`, `${proxy.httpsUrl}/b`])).toBe(0); // one connection, two requests
    expect(await curl([`${proxy.httpsUrl}/c`])).toBe(0);
    const s = samples((await scrape(proxy.url)).text);
    expect([s.get("proxy_tls_connections_total"), s.get('proxy_response_status_codes_total{code="200"}')]).toEqual([2, 3]);
  });
});
