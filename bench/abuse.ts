/**
 * Slow and abusive clients against a proxy process (issue 11, item 2), with figures:
 *
 *   bun bench/abuse.ts [connections=2000]
 *
 * For each attack: the proxy's RSS growth per attacking connection (from /proc/<pid>/status), a
 * legitimate client's p50/p99 latency while it runs (one request every 10 ms), and how the attack
 * ends. Attacks: slowloris (headers at one byte a second), idle keep-alive connections, clients
 * that stop reading a 64 MiB response, a flood of slow requests past max_in_flight, and a flood
 * from a second client IP (127.0.0.2) against a rate-limited rule. Loopback only; keep
 * `connections` under a third of `ulimit -n`. The machine was shared: run it once.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { keepAliveLoad, legitLatencies, percentile } from "../test/support/load.ts";
import { testToml } from "../test/support/project.ts";
import { spawnProxy } from "../test/support/spawn.ts";
import { table } from "./lib.ts";

const N = Number(process.argv[2] ?? 2000);
const BIG = 64 * 1024 * 1024;
const piece = new Uint8Array(64 * 1024).fill(1);
let produced = 0;
const backend = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  idleTimeout: 60,
  async fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === "/big") {
      let sent = 0;
      const body = new ReadableStream(
        {
          pull(c) {
            if (sent >= BIG) return c.close();
            c.enqueue(piece);
            sent += piece.length;
            produced += piece.length;
          },
        },
        { highWaterMark: 0 },
      );
      return new Response(body, { headers: { "content-length": String(BIG) } });
    }
    if (path === "/slow") await Bun.sleep(1000);
    return new Response("ok");
  },
});

const dir = mkdtempSync(join(tmpdir(), "soli-abuse-"));
const b = `http://127.0.0.1:${backend.port}`;
writeFileSync(join(dir, "proxy.conf"), `/limited/* -> ${b}\n/limited/* {\n    rate_limit: 100/s burst 100\n}\ndefault -> ${b}\n`);
writeFileSync(join(dir, "config.toml"), testToml("[limits]\nmax_in_flight = 200\n"));
const proxy = await spawnProxy(join(dir, "proxy.conf"), { args: ["--watch", "false"] });
const base = `http://127.0.0.1:${proxy.http}`;
const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proxy.proc.pid}/status`, "utf8"))?.[1] ?? 0) / 1024;

/** One request every 10 ms for `ms`; latencies of the 200s and the count of other statuses. */
async function legitFor(ms: number, path = "/legit"): Promise<{ p50: number; p99: number; n: number; other: number }> {
  const latencies: number[] = [];
  let other = 0;
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const started = performance.now();
    const res = await fetch(base + path);
    await res.arrayBuffer();
    if (res.status === 200) latencies.push(performance.now() - started);
    else other++;
    await Bun.sleep(10);
  }
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), n: latencies.length, other };
}

function open(count: number, onConnect: (s: net.Socket) => void): { sockets: net.Socket[]; closed: () => number } {
  let closed = 0;
  const sockets = Array.from({ length: count }, () => {
    const s = net.connect(proxy.http, "127.0.0.1", () => onConnect(s));
    s.on("close", () => closed++);
    s.on("error", () => {});
    return s;
  });
  return { sockets, closed: () => closed };
}

async function settle(): Promise<number> {
  await Bun.sleep(1500);
  return rssMiB();
}

await legitLatencies(base + "/warm", 500);
const rows: Record<string, string | number>[] = [];
const quiet = await legitFor(3000);
const baseline = await settle();
rows.push({
  attack: "none (baseline)",
  connections: 0,
  "RSS MiB": baseline.toFixed(1),
  "KiB per connection": "",
  "legit p50/p99 ms": `${quiet.p50.toFixed(2)} / ${quiet.p99.toFixed(2)}`,
  outcome: `${quiet.n} requests`,
});

{
  // Slowloris: a new connection sends its head one byte a second.
  const head = "GET /slow-head HTTP/1.1\r\nHost: h\r\nX-Slow: " + "a".repeat(64) + "\r\n\r\n";
  const started = Date.now();
  const attack = open(N, () => {});
  let i = 0;
  const drip = setInterval(() => {
    for (const s of attack.sockets) if (!s.destroyed) s.write(head[i] ?? "x");
    i++;
  }, 1000);
  const legit = await legitFor(5000);
  const rss = rssMiB();
  while (attack.closed() < N && Date.now() - started < 30_000) await Bun.sleep(100);
  clearInterval(drip);
  rows.push({
    attack: "slowloris, 1 byte/s",
    connections: N,
    "RSS MiB": rss.toFixed(1),
    "KiB per connection": (((rss - baseline) * 1024) / N).toFixed(1),
    "legit p50/p99 ms": `${legit.p50.toFixed(2)} / ${legit.p99.toFixed(2)}`,
    outcome: `${attack.closed()} closed by the proxy after ${((Date.now() - started) / 1000).toFixed(1)} s`,
  });
  for (const s of attack.sockets) s.destroy();
}

{
  // Idle keep-alive: one request each, then nothing.
  const before = await settle();
  let answered = 0;
  const started = Date.now();
  const attack = open(N, (s) => {
    s.once("data", () => answered++);
    s.write("GET /idle HTTP/1.1\r\nHost: h\r\n\r\n");
  });
  while (answered < N && Date.now() - started < 20_000) await Bun.sleep(50);
  const idleSince = Date.now();
  const legit = await legitFor(3000);
  const rss = rssMiB();
  while (attack.closed() < N && Date.now() - idleSince < 30_000) await Bun.sleep(100);
  rows.push({
    attack: "idle keep-alive",
    connections: N,
    "RSS MiB": rss.toFixed(1),
    "KiB per connection": (((rss - before) * 1024) / N).toFixed(1),
    "legit p50/p99 ms": `${legit.p50.toFixed(2)} / ${legit.p99.toFixed(2)}`,
    outcome: `${attack.closed()} closed ${((Date.now() - idleSince) / 1000).toFixed(1)} s after their answer`,
  });
  for (const s of attack.sockets) s.destroy();
}

{
  // Stalled readers: 64 MiB each, read nothing after the head.
  const readers = 50;
  const before = await settle();
  const produced0 = produced;
  const attack = open(readers, (s) => s.write("GET /big HTTP/1.1\r\nHost: h\r\n\r\n"));
  for (const s of attack.sockets) s.on("data", () => s.pause());
  let last = -1;
  while (produced !== last) {
    last = produced;
    await Bun.sleep(1000);
  }
  const legit = await legitFor(3000);
  const rss = rssMiB();
  rows.push({
    attack: "stalled readers of 64 MiB",
    connections: readers,
    "RSS MiB": rss.toFixed(1),
    "KiB per connection": (((rss - before) * 1024) / readers).toFixed(1),
    "legit p50/p99 ms": `${legit.p50.toFixed(2)} / ${legit.p99.toFixed(2)}`,
    outcome: `backend stalled after ${((produced - produced0) / readers / 1048576).toFixed(1)} MiB per reader`,
  });
  for (const s of attack.sockets) s.destroy();
}

{
  // Flood of 1-second requests past max_in_flight = 200.
  const before = await settle();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB())), 100);
  const flood = await keepAliveLoad({ port: proxy.http, path: "/slow", connections: 1000, requests: 1_000_000, timeoutMs: 5000 });
  clearInterval(sampler);
  const refused = flood.latencyByStatus[503] ?? [];
  rows.push({
    attack: "flood past max_in_flight 200",
    connections: 1000,
    "RSS MiB": `peak ${peak.toFixed(1)}`,
    "KiB per connection": (((peak - before) * 1024) / 1000).toFixed(1),
    "legit p50/p99 ms": `503s: ${percentile(refused, 50).toFixed(2)} / ${percentile(refused, 99).toFixed(2)}`,
    outcome: JSON.stringify(flood.statuses),
  });
}

{
  // A flood from 127.0.0.2 on a rule limited to 100/s per client IP; the legitimate client is 127.0.0.1.
  const before = await settle();
  const flood = keepAliveLoad({ port: proxy.http, path: "/limited/x", connections: 50, requests: 1_000_000, localAddress: "127.0.0.2", timeoutMs: 5000 });
  const legit = await legitFor(4500, "/limited/legit");
  const attack = await flood;
  const rss = rssMiB();
  rows.push({
    attack: "flood from 127.0.0.2, rate-limited rule",
    connections: 50,
    "RSS MiB": `${before.toFixed(1)} → ${rss.toFixed(1)}`,
    "KiB per connection": "",
    "legit p50/p99 ms": `${legit.p50.toFixed(2)} / ${legit.p99.toFixed(2)} (${legit.other} refused)`,
    outcome: `attacker: ${JSON.stringify(attack.statuses)}`,
  });
}

console.log(table(rows));
console.log(`proxy exited: ${proxy.proc.exitCode !== null}; stderr: ${proxy.errors().length} bytes`);
await proxy.stop("SIGTERM");
backend.stop(true);
rmSync(dir, { recursive: true, force: true });
