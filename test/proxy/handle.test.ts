/**
 * handle() in-process, without sockets: the real door and phases on a compiled snapshot, with the
 * upstream exchange behind the transport seam answering from a table. The socket end-to-end tests
 * (test/e2e) cover the same behaviour over the wire; these pin down the phase logic row by row.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import { compile } from "../../src/config/compile.ts";
import { configFiles, loadConfig } from "../../src/config/load.ts";
import { silentLogger } from "../../src/lib/log.ts";
import { Flight } from "../../src/proxy/flight.ts";
import { handle, type Answer } from "../../src/proxy/handle.ts";
import { Upgrade } from "../../src/proxy/websocket.ts";
import { ProxyState } from "../../src/state/proxy-state.ts";
import { UpstreamError, type ExchangeReceiver, type InboundResponse, type OutboundRequest } from "../../src/upstream/exchange.ts";

const CONF = `
shop.test -> http://10.0.0.1:8080
/pair/* -> http://10.0.0.2:1, http://10.0.0.3:1
/go/* -> redirect://example.org/
/limited/* -> http://10.0.0.4:1
/limited/* {
    rate_limit: 1/m burst 1
}
/api/* -> http://10.0.0.5:1
`;

/** What the fake upstream at an origin does with a request. */
type Behaviour = (request: OutboundRequest) => InboundResponse | UpstreamError;

const ok = (body: string): InboundResponse => ({
  status: 200,
  statusText: "OK",
  headers: ["content-type", "text/plain", "connection", "keep-alive", "keep-alive", "timeout=5"],
  connection: "keep-alive",
  body: new TextEncoder().encode(body),
  reused: false,
});

function setup(upstreams: Record<string, Behaviour>, toml = "") {
  const dir = mkdtempSync(join(tmpdir(), "soli-handle-"));
  writeFileSync(join(dir, "proxy.conf"), CONF);
  writeFileSync(join(dir, "config.toml"), `[server]\nbind = "127.0.0.1:0"\n${toml}`);
  const files = configFiles(join(dir, "proxy.conf"));
  const loaded = loadConfig(files);
  if (!loaded.conf) throw new Error(JSON.stringify(loaded.issues));
  const snapshot = compile({ version: 1, dev: false, conf: loaded.conf, settings: loaded.settings!, files, auth: loaded.auth });
  const state = new ProxyState();
  state.breakers.configure({ ...snapshot.circuitBreaker, failureThreshold: 2 });
  const sent: { origin: string; request: OutboundRequest }[] = [];
  state.transport = {
    start(endpoint, request, receiver: ExchangeReceiver) {
      const origin = `${endpoint.hostname}:${endpoint.port}`;
      sent.push({ origin, request });
      const behaviour = upstreams[origin];
      // Like the real exchange: never answers from inside start().
      queueMicrotask(() => {
        const outcome = behaviour ? behaviour(request) : new UpstreamError("connect", `nothing at ${origin}`, false);
        if (outcome instanceof UpstreamError) return receiver.onFail(outcome);
        const body = outcome.body;
        if (body instanceof Uint8Array) receiver.onBodyEnd(body.length, null);
        receiver.onHead(outcome);
      });
    },
  };
  const door = { current: () => snapshot, state, log: () => silentLogger(), scheme: "http" as const };
  const server = { timeout() {} } as unknown as Server<unknown>;
  // Bun.serve gives every request its Host header; a Request made here has none unless set.
  const ask = async (url: string, init: RequestInit = {}, peer = "203.0.113.9"): Promise<Answer> => {
    const headers = new Headers(init.headers);
    if (!headers.has("host")) headers.set("host", new URL(url).host);
    return handle(new Flight(new Request(url, { ...init, headers }), door, server, peer));
  };
  return { state, sent, ask };
}

const headerLines = (request: OutboundRequest) =>
  Object.fromEntries(
    request.headers
      .trim()
      .split("\r\n")
      .map((l) => [l.slice(0, l.indexOf(": ")), l.slice(l.indexOf(": ") + 2)]),
  );

async function read(answer: Answer): Promise<{ status: number; body: string; headers: Record<string, string> }> {
  if (answer instanceof Upgrade) throw new Error("unexpected upgrade");
  return { status: answer.status, body: await answer.text(), headers: Object.fromEntries(answer.headers) };
}

describe("handle() in-process through the transport seam", () => {
  test("a proxied GET reaches the upstream with forwarding headers and its answer comes back without hop-by-hop headers", async () => {
    const { sent, ask } = setup({ "10.0.0.1:8080": () => ok("hello") });
    const res = await read(await ask("http://shop.test/a/../b?x=1", { headers: { "user-agent": "t", connection: "x-drop", "x-drop": "1" } }));
    const request = sent[0]!.request;
    expect([res.status, res.body, res.headers["keep-alive"], res.headers.connection, res.headers["content-type"]]).toEqual([
      200,
      "hello",
      undefined,
      undefined,
      "text/plain",
    ]);
    expect([request.method, request.target, headerLines(request)]).toEqual([
      "GET",
      "/b?x=1",
      {
        "user-agent": "t",
        "x-forwarded-for": "203.0.113.9",
        "x-forwarded-proto": "http",
        "x-forwarded-host": "shop.test",
        "x-real-ip": "203.0.113.9",
        host: "shop.test",
      },
    ]);
  });

  const table: { name: string; url: string; init?: RequestInit; upstreams: Record<string, Behaviour>; status: number; tried: string[] }[] = [
    { name: "a request no rule matches is a 421", url: "http://other.test/nothing", upstreams: {}, status: 421, tried: [] },
    {
      name: "a GET whose connection failed before any byte is retried once on the next target",
      url: "http://x.test/pair/a",
      upstreams: { "10.0.0.3:1": () => ok("second") },
      status: 200,
      tried: ["10.0.0.2:1", "10.0.0.3:1"],
    },
    {
      name: "a POST with a body is not retried and gets a 502",
      url: "http://x.test/pair/a",
      init: { method: "POST", body: "data" },
      upstreams: { "10.0.0.3:1": () => ok("second") },
      status: 502,
      tried: ["10.0.0.2:1"],
    },
    {
      name: "an upstream that sends no head before request_timeout is a 504",
      url: "http://x.test/api/slow",
      upstreams: { "10.0.0.5:1": () => new UpstreamError("timeout", "no response headers before request_timeout", true) },
      status: 504,
      tried: ["10.0.0.5:1"],
    },
    {
      name: "a client that went away is recorded as 499 and not retried",
      url: "http://x.test/pair/a",
      upstreams: { "10.0.0.2:1": () => new UpstreamError("aborted", "client went away", true) },
      status: 499,
      tried: ["10.0.0.2:1"],
    },
    { name: "a redirect:// target answers 301 without an upstream", url: "http://x.test/go/a?b=1", upstreams: {}, status: 301, tried: [] },
    {
      name: "a malformed Host header is a 400 at the door",
      url: "http://x.test/api/a",
      init: { headers: { host: "bad host" } },
      upstreams: {},
      status: 400,
      tried: [],
    },
    { name: "CONNECT is refused at the door", url: "http://x.test/api/a", init: { method: "CONNECT" }, upstreams: {}, status: 400, tried: [] },
  ];
  for (const row of table) {
    test(row.name, async () => {
      const { sent, ask } = setup(row.upstreams);
      const res = await read(await ask(row.url, row.init));
      expect([res.status, sent.map((s) => s.origin)]).toEqual([row.status, row.tried]);
    });
  }

  test("a redirect keeps the path under the target and the query", async () => {
    const { ask } = setup({});
    const res = await read(await ask("http://x.test/go/a?b=1"));
    expect(res.headers.location).toBe("https://example.org/a?b=1");
  });

  test("failures open the target's breaker: the next request is answered 503 without reaching it", async () => {
    const { sent, ask } = setup({ "10.0.0.5:1": () => ({ ...ok(""), status: 502, statusText: "Bad Gateway" }) });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await read(await ask("http://x.test/api/a"))).status);
    expect([statuses, sent.length]).toEqual([[502, 502, 503], 2]);
  });

  test("the rule's rate limit answers 429 with RateLimit headers once its burst is spent", async () => {
    const { sent, ask } = setup({ "10.0.0.4:1": () => ok("x") });
    const first = await read(await ask("http://x.test/limited/a"));
    const second = await read(await ask("http://x.test/limited/a"));
    expect([first.status, first.headers["ratelimit-remaining"], second.status, second.headers["retry-after"] !== undefined, sent.length]).toEqual([
      200,
      "0",
      429,
      true,
      1,
    ]);
  });

  test("a WebSocket upgrade comes back as a value naming the backend URL, not as a call into server/", async () => {
    const { sent, ask } = setup({});
    const answer = await ask("http://shop.test/chat", { headers: { upgrade: "websocket", connection: "upgrade", "sec-websocket-protocol": "a, b" } });
    if (!(answer instanceof Upgrade)) throw new Error(`expected an upgrade, got ${(answer as Response).status}`);
    expect([answer.tunnel.url, answer.tunnel.protocols, sent.length]).toEqual(["ws://10.0.0.1:8080/chat", ["a", "b"], 0]);
  });

  test("streamed bodies the upstream cuts off count as its failures once they end: the breaker opens", async () => {
    // The fake upstream streams two bytes, then breaks off: its head was a 200, its body a failure.
    let receiver: ExchangeReceiver | null = null;
    const { state, sent, ask } = setup({});
    const real = state.transport;
    state.transport = {
      start(endpoint, request, rx) {
        if (endpoint.hostname !== "10.0.0.5") return real.start(endpoint, request, rx);
        sent.push({ origin: `${endpoint.hostname}:${endpoint.port}`, request });
        receiver = rx;
        const body = new ReadableStream<Uint8Array>({
          start(c) {
            c.enqueue(new Uint8Array([1, 2]));
            queueMicrotask(() => {
              c.error(undefined);
              rx.onBodyEnd(2, new UpstreamError("protocol", "upstream closed the connection mid-body", true));
            });
          },
        });
        queueMicrotask(() => rx.onHead({ status: 200, statusText: "OK", headers: [], connection: null, body, reused: false }));
      },
    };
    const statuses: number[] = [];
    for (let i = 0; i < 2; i++) {
      const res = (await ask("http://x.test/api/a")) as Response;
      statuses.push(res.status);
      await res.arrayBuffer().catch(() => {});
    }
    const third = (await ask("http://x.test/api/a")) as Response;
    expect([statuses, third.status, sent.length, receiver !== null, state.breakers.snapshot()["http://10.0.0.5:1"]?.state]).toEqual([
      [200, 200],
      503,
      2,
      true,
      "open",
    ]);
  });

  test("metrics and in-flight counts follow each request to its end", async () => {
    const { state, ask } = setup({ "10.0.0.1:8080": () => ok("hello") });
    await read(await ask("http://shop.test/"));
    await read(await ask("http://nothing.test/"));
    const page = state.metrics.render(state.inFlight);
    const line = (name: string) => page.split("\n").find((l) => l.startsWith(`${name} `));
    expect([state.inFlight, state.clientFlights.of("203.0.113.9"), line("proxy_requests_total"), line("proxy_requests_in_flight")]).toEqual([
      0,
      0,
      "proxy_requests_total 2",
      "proxy_requests_in_flight 0",
    ]);
  });
});
