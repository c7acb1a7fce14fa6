import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import net from "node:net";
import { backend } from "../support/backend.ts";
import { makeCa, makeLeaf } from "../support/certs.ts";
import { startTestProxy, tempProject, testToml } from "../support/project.ts";
import { spawnProxy } from "../support/spawn.ts";
import { waitFor } from "../support/wait.ts";
import type { Tunnel } from "../../src/server/ws.ts";
import { refusedUpgrade, wsBackend, wsConnect } from "../support/ws.ts";

const wsUrl = (httpUrl: string) => httpUrl.replace(/^http/, "ws");

describe("WebSocket relay (SPEC §5.8)", () => {
  test("echoes text, binary, a 1 MB message and 1000 ordered messages over ws:// and wss://", async () => {
    using b = wsBackend();
    await using proxy = await startTestProxy(`/ws/* -> ws://127.0.0.1:${b.port}`);
    for (const base of [wsUrl(proxy.url), wsUrl(proxy.httpsUrl)]) {
      using c = await wsConnect(`${base}/ws/echo`);
      const big = new Uint8Array(1_000_000).map((_, i) => (i * 7) & 0xff);
      c.ws.send("hello");
      c.ws.send(new Uint8Array([0, 1, 2, 255]));
      c.ws.send(big);
      for (let i = 0; i < 1000; i++) c.ws.send(`m${i}`);
      const got = await c.received(1003);
      const ordered = got.slice(3).every((m, i) => m === `m${i}`);
      expect([
        base.slice(0, base.indexOf(":")),
        got[0],
        [...(got[1] as Buffer)],
        Buffer.compare(got[2] as Buffer, Buffer.from(big)),
        ordered,
        got.length,
      ]).toEqual([base.startsWith("wss") ? "wss" : "ws", "hello", [0, 1, 2, 255], 0, true, 1003]);
    }
  });

  test("the backend handshake carries path, query, subprotocols and forwarding headers; the client gets the chosen subprotocol", async () => {
    using b = wsBackend({ protocols: ["chat.v2"] });
    await using proxy = await startTestProxy(`/live/* -> http://127.0.0.1:${b.port}/socket?v=1`);
    using c = await wsConnect(`${wsUrl(proxy.url)}/live/room/7?user=ann`, {
      protocols: ["chat.v1", "chat.v2"],
      headers: { cookie: "sid=1", "x-forwarded-for": "6.6.6.6", "x-custom": "yes", "sec-websocket-extensions": "permessage-deflate" },
    });
    const h = b.handshakes[0]!;
    expect([
      c.ws.protocol,
      h.url,
      h.headers.host,
      h.headers["sec-websocket-protocol"],
      h.headers.cookie,
      h.headers["x-custom"],
      h.headers["x-forwarded-for"],
      h.headers["x-forwarded-proto"],
      h.headers["x-real-ip"],
      h.headers["sec-websocket-extensions"],
    ]).toEqual([
      "chat.v2",
      "/socket/room/7?v=1&user=ann",
      new URL(proxy.url).host,
      "chat.v1, chat.v2",
      "sid=1",
      "yes",
      "127.0.0.1",
      "http",
      "127.0.0.1",
      undefined,
    ]);
  });

  test("messages the backend sends as soon as it accepts reach the client first, in order", async () => {
    using b = wsBackend({ greeting: Array.from({ length: 100 }, (_, i) => `g${i}`) });
    await using proxy = await startTestProxy(`default -> ws://127.0.0.1:${b.port}`);
    using c = await wsConnect(`${wsUrl(proxy.url)}/`);
    c.ws.send("after");
    const got = await c.received(101);
    expect(got).toEqual([...Array.from({ length: 100 }, (_, i) => `g${i}`), "after"]);
  });

  test("close codes and reasons propagate both ways; an abnormal backend closure becomes 1011", async () => {
    using b = wsBackend();
    await using proxy = await startTestProxy(`default -> ws://127.0.0.1:${b.port}`);
    const url = `${wsUrl(proxy.url)}/`;

    const fromClient = await wsConnect(url);
    fromClient.ws.close(4001, "client bye");
    await fromClient.closed;
    await waitFor(() => b.closes.length === 1, "the backend to see the close");

    const fromBackend = await wsConnect(url);
    fromBackend.ws.send("cmd:close:4002:server bye");
    const clientSaw = await fromBackend.closed;

    const dropped = await wsConnect(url);
    dropped.ws.send("cmd:terminate");
    const abnormal = await dropped.closed;

    const normal = await wsConnect(url);
    normal.ws.close(1000);
    await normal.closed;
    await waitFor(() => b.closes.length === 4, "four closes at the backend");
    expect([b.closes[0], clientSaw, abnormal[0], b.closes[3]]).toEqual([[4001, "client bye"], [4002, "server bye"], 1011, [1000, ""]]);
  });

  test("a client that vanishes makes the backend see 1011", async () => {
    using b = wsBackend();
    await using proxy = await startTestProxy(`default -> ws://127.0.0.1:${b.port}`);
    const c = await wsConnect(`${wsUrl(proxy.url)}/`);
    c.ws.terminate();
    await waitFor(() => b.closes.length === 1, "the backend to hear of it");
    expect(b.closes[0]![0]).toBe(1011);
  });
});

// The silent backend's 5 s handshake deadline and the idle/lifetime limits are waits: these three
// run together (issue 19); the backpressure tests after them stay serial (CPU).
describe("WebSocket handshake failures (SPEC §5.8)", () => {
  test.concurrent("refused, rejected and silent backends answer 502, 502 and 504 with the SPEC texts; no rule answers 421", async () => {
    using b = wsBackend();
    const silent = net.createServer(() => {}).listen(0, "127.0.0.1");
    await new Promise((r) => silent.once("listening", r));
    const silentPort = (silent.address() as net.AddressInfo).port;
    await using proxy = await startTestProxy(
      [
        `/refused -> ws://127.0.0.1:9`,
        `/rejected -> ws://127.0.0.1:${b.port}/reject`,
        `/silent -> ws://127.0.0.1:${silentPort}`,
        `only.test -> ws://127.0.0.1:${b.port}`,
      ].join("\n"),
    );
    try {
      const started = performance.now();
      const answers = await Promise.all([
        refusedUpgrade(`${proxy.url}/refused`),
        refusedUpgrade(`${proxy.url}/rejected`),
        refusedUpgrade(`${proxy.url}/silent`),
        refusedUpgrade(`${proxy.url}/none`),
      ]);
      const waited = performance.now() - started;
      expect([answers, waited >= 4900 && waited < 7000]).toEqual([
        [
          [502, "Backend not reachable"],
          [502, "Backend rejected WebSocket upgrade"],
          [504, "Backend timed out on WebSocket upgrade"],
          [421, "Misdirected Request"],
        ],
        true,
      ]);
    } finally {
      silent.close();
    }
  }, 15_000);

  test.concurrent("an upgrade selects through the breaker: all targets open means 503", async () => {
    let failing = true;
    using http = backend(() => new Response("down", { status: failing ? 503 : 200 }));
    await using proxy = await startTestProxy(`default -> http://127.0.0.1:${http.port}`, {
      toml: "[circuit_breaker]\nfailure_threshold = 1\nrecovery_timeout_secs = 60\n",
    });
    await fetch(proxy.url + "/");
    failing = false;
    expect(await refusedUpgrade(`${proxy.url}/`)).toEqual([503, "Service Unavailable"]);
  });
});

describe("WebSocket limits and backpressure (SPEC §5.8)", () => {
  test.concurrent("idle and lifetime limits close both sides with 1000 and the SPEC reason", async () => {
    using b = wsBackend();
    await using idle = await startTestProxy(`default -> ws://127.0.0.1:${b.port}`, { toml: "[limits]\nwebsocket_idle_timeout_secs = 1\n" });
    await using life = await startTestProxy(`default -> ws://127.0.0.1:${b.port}`, { toml: "[limits]\nwebsocket_max_lifetime_secs = 1\n" });
    const quiet = await wsConnect(`${wsUrl(idle.url)}/`);
    const chatty = await wsConnect(`${wsUrl(life.url)}/`);
    // Keep the second one busy: only its lifetime can end it.
    const keepBusy = setInterval(() => chatty.ws.readyState === 1 && chatty.ws.send("tick"), 100);
    try {
      const [q, c] = await Promise.all([quiet.closed, chatty.closed]);
      await waitFor(() => b.closes.length === 2, "both backend sides closed");
      expect([q, c, b.closes.map(([code, reason]) => `${code} ${reason}`).sort()]).toEqual([
        [1000, "idle timeout"],
        [1000, "max lifetime"],
        ["1000 idle timeout", "1000 max lifetime"],
      ]);
    } finally {
      clearInterval(keepBusy);
    }
  });

  test("more than max bytes in one direction, or a message above 16 MiB, closes with 1009", async () => {
    using b = wsBackend();
    await using small = await startTestProxy(`default -> ws://127.0.0.1:${b.port}`, { toml: "[limits]\nwebsocket_max_bytes_per_direction = 1000\n" });
    await using normal = await startTestProxy(`default -> ws://127.0.0.1:${b.port}`);
    const overBytes = await wsConnect(`${wsUrl(small.url)}/`);
    overBytes.ws.send("x".repeat(600));
    overBytes.ws.send("y".repeat(600));
    const bytesClose = await overBytes.closed;

    const hugeUp = await wsConnect(`${wsUrl(normal.url)}/`);
    hugeUp.ws.send(new Uint8Array(16 * 1024 * 1024 + 1));
    const upClose = await hugeUp.closed;

    const hugeDown = await wsConnect(`${wsUrl(normal.url)}/`);
    hugeDown.ws.send(`cmd:flood:1:${16 * 1024 * 1024 + 1}`);
    const downClose = await hugeDown.closed;
    await waitFor(() => b.closes.length === 3, "three backend closes");
    expect([bytesClose, upClose[0], downClose[0], b.closes.map((c) => c[0])]).toEqual([[1009, "max bytes per direction"], 1009, 1009, [1009, 1009, 1009]]);
  });

  test("a slow reader pauses the backend: the proxy buffers about 1 MiB, not the 32 MiB the backend sends", async () => {
    using b = wsBackend();
    await using proxy = await startTestProxy(`default -> ws://127.0.0.1:${b.port}`);
    const c = await wsConnect(`${wsUrl(proxy.url)}/`);
    c.ws.pause();
    c.ws.send("cmd:flood:512:65536");
    const tunnel = await waitFor(() => [...proxy.handle.state.tunnels][0] as Tunnel | undefined, "the tunnel");
    // The backend wrote everything into its own send buffer; the proxy stopped reading at 1 MiB.
    const backendSocket = await waitFor(() => [...b.sockets][0], "the backend socket");
    await waitFor(() => backendSocket.getBufferedAmount() > 16 * 1024 * 1024, "the backend to hold the rest of the flood");
    c.ws.resume();
    const got = await c.received(512, 20_000);
    // The peak is a high-water mark: read once all 512 messages arrived, it covers the pause and
    // everything after it, so nothing still in flight at the pause can be missed.
    const peak = tunnel.peakClientBuffered;
    const inOrder = got.every((m, i) => (m as Buffer).readUInt32BE(0) === i && (m as Buffer).length === 65536);
    expect([peak < 4 * 1024 * 1024, inOrder, got.length]).toEqual([true, true, 512]);
    console.log(`slow reader: proxy peak client-side buffer ${(peak / 1024 / 1024).toFixed(2)} MiB while the backend pushed 32 MiB`);
    c.ws.close();
  }, 30_000);

  test("a slow backend pauses the client: the proxy's backend-side buffer stays near 1 MiB", async () => {
    using b = wsBackend();
    await using proxy = await startTestProxy(`default -> ws://127.0.0.1:${b.port}`);
    const c = await wsConnect(`${wsUrl(proxy.url)}/`);
    c.ws.send("cmd:pause");
    await waitFor(() => [...b.sockets][0]?.isPaused, "the backend to stop reading");
    const chunk = new Uint8Array(65536);
    for (let i = 0; i < 512; i++) c.ws.send(chunk);
    const tunnel = await waitFor(() => [...proxy.handle.state.tunnels][0] as Tunnel | undefined, "the tunnel");
    await waitFor(() => c.ws.bufferedAmount > 16 * 1024 * 1024, "the client to hold most of its 32 MiB");
    [...b.sockets][0]!.resume();
    const echoed = await c.received(512, 20_000);
    // A high-water mark read after the whole echo: it covers the pause and what followed it.
    const peak = tunnel.peakBackendBuffered;
    expect([peak > 0 && peak < 4 * 1024 * 1024, echoed.length]).toEqual([true, 512]);
    console.log(`slow backend: proxy peak backend-side buffer ${(peak / 1024 / 1024).toFixed(2)} MiB while the client pushed 32 MiB`);
    c.ws.close();
  }, 30_000);
});

describe("WebSocket tunnels and the process", () => {
  test("a tunnel on a rule that a reload leaves unchanged stays open and keeps relaying", async () => {
    using b = wsBackend();
    await using proxy = await startTestProxy(`/ws -> ws://127.0.0.1:${b.port}`);
    using c = await wsConnect(`${wsUrl(proxy.url)}/ws`);
    c.ws.send("before");
    await c.received(1);
    writeFileSync(proxy.project.conf, `/ws -> ws://127.0.0.1:${b.port}\n/added -> http://127.0.0.1:9\n`);
    const reloaded = await proxy.handle.reload();
    c.ws.send("after");
    const got = await c.received(2);
    expect([reloaded.ok, proxy.handle.current().version, got, c.ws.readyState, b.closes.length]).toEqual([true, 2, ["before", "after"], WebSocket.OPEN, 0]);
  });

  test("a tunnel logs one endpoint line with status 101 and the bytes relayed once it ends; a refused one logs its 502", async () => {
    using b = wsBackend();
    await using proxy = await startTestProxy(`/ok -> ws://127.0.0.1:${b.port}\n/down -> ws://127.0.0.1:9`, { toml: "[logging]\nlog_endpoints = true\n" });
    const c = await wsConnect(`${wsUrl(proxy.url)}/ok`);
    c.ws.send("12345");
    await c.received(1);
    const whileOpen = proxy.logs().filter((l) => l.msg === "endpoint request").length;
    c.ws.close(1000);
    await refusedUpgrade(`${proxy.url}/down`);
    const lines = await waitFor(() => {
      const l = proxy.logs().filter((x) => x.msg === "endpoint request");
      return l.length === 2 ? l : null;
    }, "two endpoint lines");
    const pick = (l: Record<string, unknown>) => [l.path, l.status, l.bytes, l.upstream];
    expect([whileOpen, lines.map(pick).sort()]).toEqual([
      0,
      [
        ["/down", 502, 21, "ws://127.0.0.1:9"],
        ["/ok", 101, 5, `ws://127.0.0.1:${b.port}`],
      ],
    ]);
  });

  test("shutdown closes open tunnels with 1001 on both sides", async () => {
    using b = wsBackend();
    const proxy = await startTestProxy(`default -> ws://127.0.0.1:${b.port}`);
    const c = await wsConnect(`${wsUrl(proxy.url)}/`);
    await proxy.stop();
    const closed = await c.closed;
    await waitFor(() => b.closes.length === 1, "the backend close");
    expect([closed[0], b.closes[0]![0]]).toEqual([1001, 1001]);
  });

  test("wss:// targets are verified against trusted CAs and get Host and Origin rewritten", async () => {
    const ca = await makeCa();
    const leaf = await makeLeaf(ca, ["localhost"]);
    using b = wsBackend({ tls: leaf });
    using project = tempProject({ "proxy.conf": `default -> wss://localhost:${b.port}/secure`, "config.toml": testToml(), "ca.pem": ca.cert });
    await using proxy = await spawnProxy(project.conf, { env: { NODE_EXTRA_CA_CERTS: `${project.dir}/ca.pem` } });
    using c = await wsConnect(`ws://127.0.0.1:${proxy.http}/x`, { headers: { host: "app.test", origin: "http://app.test" } });
    c.ws.send("over tls");
    const got = await c.received(1);
    const h = b.handshakes[0]!;
    expect([got, h.url, h.headers.host, h.headers.origin, h.headers["x-forwarded-host"]]).toEqual([
      ["over tls"],
      "/secure/x",
      `localhost:${b.port}`,
      `https://localhost:${b.port}`,
      "app.test",
    ]);
  });
});
