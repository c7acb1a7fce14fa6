import { describe, expect, test } from "bun:test";
import { backend, rawBackend } from "../support/backend.ts";
import { startTestProxy } from "../support/project.ts";
import { rawRequest, statusOf } from "../support/raw.ts";
import { waitFor } from "../support/wait.ts";

const answer = async (res: Response) => [res.status, await res.text(), res.headers.get("content-type")];

// Concurrent (issue 19): every test has its own proxy, backend and project on port 0, and most of
// the file's time is waiting (request_timeout, a 6 s upstream): 13 s in series, 8 s together.
describe.concurrent("statuses the proxy answers itself (SPEC §5.9)", () => {
  test("no matching rule is 421 Misdirected Request", async () => {
    await using proxy = await startTestProxy("/only -> http://127.0.0.1:9");
    expect(await answer(await fetch(proxy.url + "/other"))).toEqual([421, "Misdirected Request", "text/plain; charset=utf-8"]);
  });

  test("a refused upstream connection is 502 and the log line says which upstream", async () => {
    const dead = Bun.serve({ port: 0, fetch: () => new Response() });
    const port = dead.port;
    dead.stop(true);
    await using proxy = await startTestProxy(`default -> http://127.0.0.1:${port}`);
    expect(await answer(await fetch(proxy.url + "/x"))).toEqual([502, "Bad Gateway", "text/plain; charset=utf-8"]);
    const warning = proxy.logs().find((l) => l.msg === "proxy error");
    expect(String(warning?.err)).toContain(`upstream http://127.0.0.1:${port}`);
  });

  test("a garbage answer from the upstream is 502", async () => {
    await using raw = await rawBackend((_req, s) => s.end("SSH-2.0-OpenSSH_9.2\r\n\r\n"));
    await using proxy = await startTestProxy(`default -> http://127.0.0.1:${raw.port}`);
    expect((await fetch(proxy.url + "/")).status).toBe(502);
  });

  test("no response headers within request_timeout is 504", async () => {
    await using raw = await rawBackend(() => {}); // accepts and never answers
    await using proxy = await startTestProxy(`default -> http://127.0.0.1:${raw.port}`, { toml: "[limits]\nrequest_timeout = 1\n" });
    const started = Date.now();
    expect(await answer(await fetch(proxy.url + "/"))).toEqual([504, "Gateway Timeout", "text/plain; charset=utf-8"]);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test("a body announced above max_request_size is 413 before the backend sees anything", async () => {
    using b = backend();
    await using proxy = await startTestProxy(`default -> ${b.url}`, { toml: '[limits]\nmax_request_size = "1KB"\n' });
    const res = await fetch(proxy.url + "/", { method: "POST", body: new Uint8Array(2048) });
    expect([res.status, await res.text(), b.seen.length]).toEqual([413, "Payload Too Large", 0]);
  });

  test("a streamed body that grows past max_request_size is cut with 413", async () => {
    let received = 0;
    await using raw = await rawBackend(() => {});
    await using proxy = await startTestProxy(`default -> http://127.0.0.1:${raw.port}`, { toml: '[limits]\nmax_request_size = "64KB"\n' });
    const chunks = Array.from({ length: 10 }, () => new Uint8Array(16 * 1024));
    const body = new ReadableStream({
      pull(c) {
        const next = chunks.shift();
        if (next) c.enqueue(next);
        else c.close();
      },
    });
    const res = await fetch(proxy.url + "/", { method: "POST", body, duplex: "half" } as RequestInit);
    received = raw.received.join("").length;
    expect(res.status).toBe(413);
    expect(received).toBeLessThan(10 * 16 * 1024);
  });

  test("a malformed Host header is 400", async () => {
    await using proxy = await startTestProxy("default -> http://127.0.0.1:9");
    const res = await rawRequest(proxy.handle.http.port, "GET / HTTP/1.1\r\nHost: bad host!\r\nConnection: close\r\n\r\n");
    expect([statusOf(res), res.endsWith("Bad Request")]).toEqual([400, true]);
  });

  test("malformed requests get a 4xx and the proxy keeps serving", async () => {
    using b = backend(() => new Response("fine"));
    await using proxy = await startTestProxy(`default -> ${b.url}`);
    const port = proxy.handle.http.port;
    const bad = [
      "GARBAGE\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nX-Bad\0: 1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
      `GET /${"a".repeat(100_000)} HTTP/1.1\r\nHost: h\r\n\r\n`,
      `GET / HTTP/1.1\r\nHost: h\r\nX-Big: ${"b".repeat(100_000)}\r\n\r\n`,
    ];
    const statuses = [];
    for (const request of bad) statuses.push(statusOf(await rawRequest(port, request, 2000)));
    for (const s of statuses) expect(s === 0 || (s >= 400 && s < 500)).toBe(true);
    expect(b.seen.length).toBe(0);
    expect(await (await fetch(proxy.url + "/")).text()).toBe("fine");
  });

  test("CONNECT is refused and repeated identical Content-Length headers are forwarded as one", async () => {
    await using raw = await rawBackend((_req, s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
    await using proxy = await startTestProxy(`default -> http://127.0.0.1:${raw.port}`);
    const connect = await rawRequest(proxy.handle.http.port, "CONNECT other.example:443 HTTP/1.1\r\nHost: other.example:443\r\n\r\n", 1000);
    const dup = await rawRequest(
      proxy.handle.http.port,
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd",
    );
    expect([statusOf(connect), statusOf(dup), raw.received.length]).toEqual([400, 200, 1]);
    expect(raw.received[0]).toContain("content-length: 4\r\n\r\nabcd");
  });

  test("an HTTP/1.0 request without Host is routed by path rules", async () => {
    using b = backend(() => new Response("old client"));
    await using proxy = await startTestProxy(`default -> ${b.url}`);
    const res = await rawRequest(proxy.handle.http.port, "GET / HTTP/1.0\r\n\r\n");
    expect([statusOf(res), res.endsWith("old client")]).toEqual([200, true]);
  });
});

describe.concurrent("probes and door-keeping", () => {
  test("liveness and readiness answer OK, and readiness turns 503 once shutdown begins", async () => {
    await using proxy = await startTestProxy("/only -> http://127.0.0.1:9");
    const live = await answer(await fetch(proxy.url + "/health/live"));
    const ready = await answer(await fetch(proxy.url + "/health/ready"));
    proxy.handle.state.shuttingDown = true;
    const draining = await answer(await fetch(proxy.url + "/health/ready"));
    expect([live, ready, draining]).toEqual([
      [200, "OK", "text/plain; charset=utf-8"],
      [200, "OK", "text/plain; charset=utf-8"],
      [503, "Shutting down", "text/plain; charset=utf-8"],
    ]);
  });

  test("no rule can shadow the health paths", async () => {
    using b = backend(() => new Response("backend"));
    await using proxy = await startTestProxy(`/health/* -> ${b.url}`);
    expect(await (await fetch(proxy.url + "/health/live")).text()).toBe("OK");
    expect(b.seen.length).toBe(0);
  });

  test("more concurrent requests than max_in_flight get 503 with Retry-After", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    using b = backend(async () => {
      await gate;
      return new Response("done");
    });
    await using proxy = await startTestProxy(`default -> ${b.url}`, { toml: "[limits]\nmax_in_flight = 2\n" });
    const held = [fetch(proxy.url + "/1"), fetch(proxy.url + "/2")];
    await waitFor(() => b.seen.length === 2, "both held requests at the backend");
    const over = await fetch(proxy.url + "/3");
    release();
    const done = await Promise.all(held.map(async (p) => (await p).status));
    expect([over.status, over.headers.get("retry-after"), done]).toEqual([503, "1", [200, 200]]);
  });

  test("force_https redirects hosts a rule names with 308 and refuses others with 421, even when a default rule would serve them", async () => {
    await using proxy = await startTestProxy("site.test -> http://127.0.0.1:9\ndefault -> http://127.0.0.1:9", { toml: "[tls]\nforce_https = true\n" });
    const routed = await fetch(proxy.url + "/a?b=1", { headers: { host: "site.test." }, redirect: "manual" });
    const other = await fetch(proxy.url + "/", { headers: { host: "evil.test" }, redirect: "manual" });
    const port = proxy.handle.applied().settings.server.https_port;
    expect([routed.status, routed.headers.get("location"), await routed.text(), other.status, other.headers.get("location")]).toEqual([
      308,
      `https://site.test:${port}/a?b=1`,
      "",
      421,
      null,
    ]);
  });

  test("a slow upstream is not cut by the client keep-alive timeout", async () => {
    using b = backend(async () => {
      await Bun.sleep(6000); // slow on purpose: longer than the 1 s keep-alive timeout, which must not cut it
      return new Response("patience");
    });
    await using proxy = await startTestProxy(`default -> ${b.url}`, { toml: "[limits]\nkeep_alive_timeout = 1\n" });
    const res = await fetch(proxy.url + "/slow");
    expect([res.status, await res.text()]).toEqual([200, "patience"]);
  }, 15_000);
});
