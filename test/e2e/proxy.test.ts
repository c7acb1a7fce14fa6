import { describe, expect, test } from "bun:test";
import { backend, rawBackend } from "../support/backend.ts";
import { startTestProxy } from "../support/project.ts";
import { rawRequest, statusOf } from "../support/raw.ts";

/** GET through the proxy with a given Host, returning status and the JSON the echo backend saw. */
async function via(url: string, path: string, host: string, init: RequestInit = {}) {
  const res = await fetch(url + path, { ...init, headers: { host, ...(init.headers as Record<string, string>) }, redirect: "manual" });
  const text = await res.text();
  let json: { url: string; headers: Record<string, string>; method: string; bodyLength: number } | null = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, text, json };
}

describe("rule forms", () => {
  test("every source kind routes to its backend with the SPEC URL resolution", async () => {
    using a = backend();
    using b = backend();
    using c = backend();
    await using proxy = await startTestProxy(
      [
        `default -> ${a.url}/fallback`,
        `/exact -> ${b.url}/fixed?k=1`,
        `/api/* -> ${b.url}/v1`,
        `~^/users/(\\d+)/(?P<tab>\\w+)$ -> ${c.url}/u?id=$1&tab=\${tab}`,
        `site.test -> ${c.url}`,
        `site.test/admin/* -> ${a.url}/adm/`,
      ].join("\n"),
    );
    const seen = async (path: string, host = "any.test") => {
      const r = await via(proxy.url, path, host);
      return [r.status, r.json?.url];
    };
    expect(await seen("/nothing/here?q=1")).toEqual([200, "/fallback/nothing/here?q=1"]);
    expect(await seen("/exact?z=2")).toEqual([200, "/fixed?k=1&z=2"]);
    expect(await seen("/api/items/7")).toEqual([200, "/v1/items/7"]);
    expect(await seen("/api")).toEqual([200, "/v1"]);
    expect(await seen("/users/42/posts?x")).toEqual([200, "/u?id=42&tab=posts&x"]);
    expect(await seen("/anything", "SITE.test:8080")).toEqual([200, "/anything"]);
    expect(await seen("/admin/users", "site.test")).toEqual([200, "/adm/users"]);
    expect([a.seen.length, b.seen.length, c.seen.length]).toEqual([2, 3, 2]);
  });

  test("several targets take turns in round-robin order", async () => {
    using a = backend(() => new Response("a"));
    using b = backend(() => new Response("b"));
    using c = backend(() => new Response("c"));
    await using proxy = await startTestProxy(`/rr -> ${a.url}, ${b.url}, ${c.url}`);
    const order: string[] = [];
    for (let i = 0; i < 6; i++) order.push(await (await fetch(proxy.url + "/rr")).text());
    expect(order).toEqual(["a", "b", "c", "a", "b", "c"]);
  });

  test("weights interleave targets 7:3 as SPEC orders them", async () => {
    using a = backend(() => new Response("A"));
    using b = backend(() => new Response("B"));
    await using proxy = await startTestProxy(`/w -> weight:70 ${a.url}, weight:30 ${b.url}`);
    let order = "";
    for (let i = 0; i < 10; i++) order += await (await fetch(proxy.url + "/w")).text();
    expect(order).toBe("ABAABAABAA");
  });

  test("redirect targets answer 301 to https with path and query", async () => {
    await using proxy = await startTestProxy(["old.test -> redirect://new.test", "/go/* -> redirect://docs.test:8443/guide"].join("\n"));
    const r1 = await via(proxy.url, "/a/b?c=d", "old.test");
    const r2 = await via(proxy.url, "/go/intro?x=1", "h.test");
    expect([r1.status, r1.headers.get("location"), r1.text]).toEqual([301, "https://new.test/a/b?c=d", "Moved Permanently"]);
    expect([r2.status, r2.headers.get("location")]).toEqual([301, "https://docs.test:8443/guide/intro?x=1"]);
  });

  test("a ws:// target answers a plain HTTP request with 502", async () => {
    await using proxy = await startTestProxy("/socket -> ws://127.0.0.1:9");
    const r = await via(proxy.url, "/socket", "h.test");
    expect([r.status, r.text]).toEqual([502, "Bad Gateway"]);
  });
});

describe("request headers sent upstream (SPEC §5.6)", () => {
  test("hop-by-hop headers, including those named by Connection, are removed and others pass unchanged", async () => {
    await using raw = await rawBackend((_req, s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
    await using proxy = await startTestProxy(`default -> http://127.0.0.1:${raw.port}`);
    const res = await rawRequest(
      proxy.handle.http.port,
      "GET /h HTTP/1.1\r\nHost: h.test\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nTE: gzip\r\nProxy-Authorization: Basic x\r\nUpgrade: foo\r\nX-Keep: yes\r\nConnection: close\r\n\r\n",
    );
    expect(statusOf(res)).toBe(200);
    const sent = raw.received[0]!.toLowerCase();
    expect(["x-secret", "keep-alive", "\r\nte:", "proxy-authorization", "upgrade", "connection: close"].filter((h) => sent.includes(h))).toEqual([]);
    expect(sent).toContain("x-keep: yes\r\n");
  });

  test("the proxy adds no Accept, Accept-Encoding or User-Agent the client did not send", async () => {
    await using raw = await rawBackend((_req, s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
    await using proxy = await startTestProxy(`default -> http://127.0.0.1:${raw.port}`);
    await rawRequest(proxy.handle.http.port, "GET /bare HTTP/1.1\r\nHost: h.test\r\nConnection: close\r\n\r\n");
    const sent = raw.received[0]!;
    const names = sent
      .split("\r\n")
      .slice(1)
      .filter(Boolean)
      .map((l) => l.slice(0, l.indexOf(":")).toLowerCase())
      .sort();
    expect(sent.split("\r\n")[0]).toBe("GET /bare HTTP/1.1");
    expect(names).toEqual(["host", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip"]);
  });

  test("an untrusted client's forwarding claims are replaced by what the proxy saw", async () => {
    using b = backend();
    await using proxy = await startTestProxy(`default -> ${b.url}`);
    const r = await via(proxy.url, "/", "shop.test:8080", {
      headers: { "x-forwarded-for": "6.6.6.6", "x-real-ip": "6.6.6.6", forwarded: "for=6.6.6.6", "x-forwarded-proto": "https", "x-auth-subject": "root" },
    });
    const h = r.json!.headers;
    expect([h["x-forwarded-for"], h["x-real-ip"], h["x-forwarded-proto"], h["x-forwarded-host"], h.host, h.forwarded, h["x-auth-subject"]]).toEqual([
      "127.0.0.1",
      "127.0.0.1",
      "http",
      "shop.test:8080",
      "shop.test:8080",
      undefined,
      undefined,
    ]);
  });

  test("a trusted proxy's chain is extended and its client IP believed", async () => {
    using b = backend();
    await using proxy = await startTestProxy(`default -> ${b.url}`, { server: `trusted_proxies = ["127.0.0.1"]` });
    const r = await via(proxy.url, "/", "h.test", { headers: { "x-forwarded-for": "198.51.100.4", "x-forwarded-proto": "https" } });
    const h = r.json!.headers;
    expect([h["x-forwarded-for"], h["x-real-ip"], h["x-forwarded-proto"], h.forwarded]).toEqual([
      "198.51.100.4, 127.0.0.1",
      "198.51.100.4",
      "https",
      undefined,
    ]);
  });

  test("headers blocks set and remove headers with $client_ip, $scheme and $host, rule after global", async () => {
    using b = backend();
    await using proxy = await startTestProxy(
      [
        "headers {",
        "  X-Global: g",
        "  X-Both: from-global",
        "}",
        `default -> ${b.url}`,
        "headers {",
        "  X-Both: from-rule",
        "  X-Who: $client_ip over $scheme to $host costs $$5",
        "  -X-Drop",
        "}",
      ].join("\n"),
    );
    const r = await via(proxy.url, "/", "Shop.Test:81", { headers: { "x-drop": "1", "x-both": "client" } });
    const h = r.json!.headers;
    expect([h["x-global"], h["x-both"], h["x-who"], h["x-drop"]]).toEqual(["g", "from-rule", "127.0.0.1 over http to shop.test costs $5", undefined]);
  });

  test("repeated Cookie headers reach the backend joined with '; '", async () => {
    await using raw = await rawBackend((_req, s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
    await using proxy = await startTestProxy(`default -> http://127.0.0.1:${raw.port}`);
    await rawRequest(proxy.handle.http.port, "GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\nCookie: b=2\r\nConnection: close\r\n\r\n");
    expect(raw.received[0]).toContain("cookie: a=1; b=2\r\n");
  });
});

describe("responses relayed to the client (SPEC §5.7)", () => {
  test("bytes pass as the backend sent them: encoded bodies stay encoded, Set-Cookie stays separate", async () => {
    const gz = Bun.gzipSync(Buffer.from("hello ".repeat(100)));
    using b = backend(() => {
      const h = new Headers({ "content-encoding": "gzip", "content-type": "text/plain" });
      h.append("set-cookie", "a=1; Path=/");
      h.append("set-cookie", "b=2; HttpOnly");
      return new Response(gz, { headers: h });
    });
    await using proxy = await startTestProxy(`default -> ${b.url}`);
    const res = await fetch(proxy.url + "/", { decompress: false } as RequestInit);
    const body = new Uint8Array(await res.arrayBuffer());
    expect([res.headers.get("content-encoding"), res.headers.getSetCookie(), Buffer.compare(body, gz)]).toEqual(["gzip", ["a=1; Path=/", "b=2; HttpOnly"], 0]);
  });

  test("hop-by-hop response headers are stripped, including those named by Connection", async () => {
    await using raw = await rawBackend((_req, s) =>
      s.write("HTTP/1.1 200 OK\r\nConnection: X-Internal\r\nX-Internal: 1\r\nKeep-Alive: timeout=5\r\nX-Public: 2\r\nContent-Length: 2\r\n\r\nok"),
    );
    await using proxy = await startTestProxy(`default -> http://127.0.0.1:${raw.port}`);
    const res = await rawRequest(proxy.handle.http.port, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    const head = res.slice(0, res.indexOf("\r\n\r\n")).toLowerCase();
    expect([head.includes("x-internal"), head.includes("keep-alive:"), head.includes("x-public: 2"), res.endsWith("ok")]).toEqual([false, false, true, true]);
  });

  test("a redirect from a mounted backend stays under the mount", async () => {
    using b = backend(
      (req) => new Response(null, { status: 302, headers: { location: new URL(req.url).pathname === "/abs" ? "https://elsewhere.test/x" : "/login" } }),
    );
    await using proxy = await startTestProxy(`/app/* -> ${b.url}\nsite.test/shop/* -> ${b.url}`);
    const r1 = await via(proxy.url, "/app/account", "h.test");
    const r2 = await via(proxy.url, "/shop/cart", "site.test");
    const r3 = await via(proxy.url, "/app/abs", "h.test");
    expect([r1.headers.get("location"), r2.headers.get("location"), r3.headers.get("location")]).toEqual([
      "/app/login",
      "/shop/login",
      "https://elsewhere.test/x",
    ]);
  });

  test("HEAD keeps the backend's Content-Length without a body", async () => {
    using b = backend(() => new Response("twelve bytes"));
    await using proxy = await startTestProxy(`default -> ${b.url}`);
    const res = await rawRequest(proxy.handle.http.port, "HEAD / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    expect([statusOf(res), /content-length: 12/i.test(res), res.endsWith("\r\n\r\n")]).toEqual([200, true, true]);
  });
});

describe("upstream connections", () => {
  test("connections to a backend are kept alive and reused", async () => {
    await using raw = await rawBackend((_req, s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
    await using proxy = await startTestProxy(`default -> http://127.0.0.1:${raw.port}`);
    for (let i = 0; i < 20; i++) expect(await (await fetch(proxy.url + "/" + i)).text()).toBe("ok");
    expect(raw.connections).toBe(1);
    expect(proxy.handle.state.pool.stats()).toMatchObject({ opened: 1, reused: 19 });
  });

  test("a kept-alive connection the backend closed is replaced without failing the request", async () => {
    let served = 0;
    await using raw = await rawBackend((_req, s) => {
      served++;
      s.end("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"); // answers, then closes: keep-alive not honoured
    });
    await using proxy = await startTestProxy(`default -> http://127.0.0.1:${raw.port}`);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await fetch(proxy.url + "/")).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    expect(served).toBe(5);
  });
});
