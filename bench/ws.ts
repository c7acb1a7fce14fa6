/**
 * WebSocket benchmark: echo messages per second through soli-proxy versus straight to the backend,
 * plus the proxy's memory while a slow reader is flooded.
 *
 *   bun bench/ws.ts [seconds=5] [connections=10] [window=64] [bytes=64]
 *
 * The backend is a Bun.serve echo server in its own process, the proxy a real `bun src/main.ts`
 * process. Each of `connections` clients keeps `window` messages of `bytes` bytes in flight and
 * sends a new one per echo received. Prints messages/s for both paths, their ratio, and the
 * relay's CPU-µs per relayed message (both directions, from /proc/<pid>/stat). A bare Bun relay
 * (no limits, accounting or backpressure) runs beside it as the floor for any Bun-based proxy.
 *
 * Slow reader: one client stops reading and asks the backend for 64 MiB; the proxy's RSS is read
 * before and while the backend's data waits (the proxy should hold about 1 MiB of it, SPEC §5.8).
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, cpuMicros, freePort, ROOT, start, table, waitPort } from "./lib.ts";

const seconds = Number(process.argv[2] ?? 5);
const connections = Number(process.argv[3] ?? 10);
const windowSize = Number(process.argv[4] ?? 64);
const bytes = Number(process.argv[5] ?? 64);

const dir = mkdtempSync(join(tmpdir(), "soli-bench-ws-"));
const backendPort = await freePort();
const backendScript = join(dir, "backend.ts");
writeFileSync(
  backendScript,
  `Bun.serve({ port: ${backendPort}, hostname: "127.0.0.1",
    fetch(req, s) { return s.upgrade(req) ? undefined : new Response("ws only", { status: 400 }); },
    websocket: { backpressureLimit: 1 << 30, message(ws, m) {
      if (typeof m === "string" && m.startsWith("flood:")) { const [, n, size] = m.split(":"); const b = new Uint8Array(Number(size)); for (let i = 0; i < Number(n); i++) ws.send(b); return; }
      ws.send(m);
    } } });`,
);
const backend = start([BUN, backendScript]);
// The floor: the least a Bun relay can do (connect first, upgrade, forward, no limits or accounting).
const barePort = await freePort();
const bareScript = join(dir, "bare-relay.ts");
writeFileSync(
  bareScript,
  `Bun.serve({ port: ${barePort}, hostname: "127.0.0.1",
    fetch(req, s) { return new Promise((resolve) => { const b = new WebSocket("ws://127.0.0.1:${backendPort}/", { perMessageDeflate: false }); b.binaryType = "nodebuffer";
      b.onopen = () => resolve(s.upgrade(req, { data: b }) ? undefined : new Response("no", { status: 500 })); b.onerror = () => resolve(new Response("down", { status: 502 })); }); },
    websocket: { open(ws) { ws.data.onmessage = (e) => ws.send(e.data); ws.data.onclose = () => ws.close(); }, message(ws, m) { ws.data.send(m); }, close(ws) { ws.data.close(); } } });`,
);
const bare = start([BUN, bareScript]);
const proxyPort = await freePort();
writeFileSync(join(dir, "proxy.conf"), `default -> ws://127.0.0.1:${backendPort}\n`);
writeFileSync(
  join(dir, "config.toml"),
  `[server]\nbind = "127.0.0.1:${proxyPort}"\nhttps_port = 0\nworker_threads = 1\n[admin]\nenabled = false\n[logging]\nlevel = "warn"\n`,
);
const proxy = start([BUN, join(ROOT, "src/main.ts"), "-c", join(dir, "proxy.conf")]);
await Promise.all([waitPort(backendPort), waitPort(proxyPort), waitPort(barePort)]);

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.binaryType = "nodebuffer";
    ws.onopen = () => resolve(ws);
    ws.onerror = (e) => reject(new Error((e as ErrorEvent).message));
  });
}

/** Echo round trips per second over `connections` sockets for `secs` seconds. */
async function echoRate(url: string, secs: number): Promise<number> {
  const sockets = await Promise.all(Array.from({ length: connections }, () => open(url)));
  const payload = new Uint8Array(bytes);
  let received = 0;
  let running = true;
  for (const ws of sockets) {
    ws.onmessage = () => {
      received++;
      if (running) ws.send(payload);
    };
  }
  for (const ws of sockets) for (let i = 0; i < windowSize; i++) ws.send(payload);
  await Bun.sleep(secs * 1000);
  running = false;
  const rate = received / secs;
  for (const ws of sockets) ws.close();
  return rate;
}

function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
}

const rows: Record<string, string | number>[] = [];
let slowReader = "";
try {
  await echoRate(`ws://127.0.0.1:${backendPort}/`, 1); // warm-up
  await echoRate(`ws://127.0.0.1:${proxyPort}/`, 1);
  await echoRate(`ws://127.0.0.1:${barePort}/`, 1);
  const direct = await echoRate(`ws://127.0.0.1:${backendPort}/`, seconds);
  rows.push({ path: "backend direct", "msgs/s": Math.round(direct), "relay CPU-µs/msg": "-" });
  for (const [name, port, pid] of [
    ["bare Bun relay", barePort, bare.pid],
    ["soli-proxy", proxyPort, proxy.pid],
  ] as const) {
    const cpuBefore = cpuMicros(pid);
    const rate = await echoRate(`ws://127.0.0.1:${port}/`, seconds);
    // Each echo is two relayed messages: one each way.
    rows.push({ path: name, "msgs/s": Math.round(rate), "relay CPU-µs/msg": ((cpuMicros(pid) - cpuBefore) / (rate * seconds * 2)).toFixed(1) });
  }

  const before = rssMiB(proxy.pid);
  const slow = await open(`ws://127.0.0.1:${proxyPort}/`);
  slow.pause();
  slow.send("flood:1024:65536");
  await Bun.sleep(2000);
  const during = rssMiB(proxy.pid);
  slowReader = `slow reader: backend sent 64 MiB to a client that stopped reading; proxy RSS ${before.toFixed(0)} MiB before, ${during.toFixed(0)} MiB while waiting (+${(during - before).toFixed(0)} MiB)`;
  slow.terminate();
} finally {
  proxy.kill();
  bare.kill();
  backend.kill();
}

console.log(
  `\nbench/ws.ts — ${new Date().toISOString()} — ${connections} connections × ${windowSize} in flight, ${bytes}-byte binary messages, ${seconds}s, bun ${Bun.version}\n`,
);
console.log(table(rows));
const rate = (name: string) => Number(rows.find((r) => r.path === name)!["msgs/s"]);
console.log(
  `\nsoli-proxy / direct: ${(rate("soli-proxy") / rate("backend direct")).toFixed(2)}× messages per second; soli-proxy / bare relay: ${(rate("soli-proxy") / rate("bare Bun relay")).toFixed(2)}×`,
);
console.log(slowReader);
