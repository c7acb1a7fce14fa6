/**
 * The proxy's own JavaScript per request, without sockets: the real door (server/http.ts), phases
 * (proxy/) and upstream exchange (upstream/exchange.ts) driven with in-memory requests, a fake
 * Bun server and a pooled connection that answers with a canned nginx response. No syscalls, so
 * the figure is steady on a busy machine; it is the part of CPU-µs/request that soli-proxy's code
 * decides (the rest is Bun.serve and the kernel).
 *
 * It then counts the JavaScript objects one request allocates: heap cells before and after a batch
 * of requests run right after a full collection (bun:jsc heapStats), median of several batches,
 * with the object types that grew most.
 *
 *   bun bench/hotpath.ts [requests=200000]
 */
import { gcAndSweep, heapStats } from "bun:jsc";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compile } from "../src/config/compile.ts";
import { configFiles, loadConfig } from "../src/config/load.ts";
import { createFetchHandler } from "../src/server/http.ts";
import { silentLogger } from "../src/lib/log.ts";
import { ProxyState } from "../src/state/proxy-state.ts";
import { Connection } from "../src/upstream/connection.ts";
import { endpointOf } from "../src/lib/endpoint.ts";

const N = Number(process.argv[2] ?? 200_000);
const dir = mkdtempSync(join(tmpdir(), "soli-hotpath-"));
writeFileSync(join(dir, "proxy.conf"), "bench.test -> http://127.0.0.1:1\ndefault -> http://127.0.0.1:1\n");
writeFileSync(join(dir, "config.toml"), `[server]\nbind = "127.0.0.1:0"\n`);
const files = configFiles(join(dir, "proxy.conf"));
const loaded = loadConfig(files);
const snapshot = compile({ version: 1, dev: false, conf: loaded.conf!, settings: loaded.settings!, files, auth: loaded.auth });
const state = new ProxyState();
state.breakers.configure(snapshot.circuitBreaker);
const log = silentLogger();
const fetchHandler = createFetchHandler({ current: () => snapshot, state, log: () => log, scheme: "http" });

// One pooled "connection" whose socket answers every request with nginx's bytes, a microtask later.
const RESPONSE = Buffer.from(
  "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 28 Nov 2026 21:23:50 GMT\r\nContent-Type: application/octet-stream\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\nhello world\n",
  "latin1",
);
const endpoint = endpointOf({ hostname: "127.0.0.1", port: 1, secure: false });
const conn = new Connection(endpoint);
conn.socket = {
  write: (d: string | Uint8Array) => (queueMicrotask(() => conn.handleData(RESPONSE)), d.length),
  timeout() {},
  pause() {},
  resume() {},
  terminate() {},
} as never;
conn.uses = 1;
conn.onForget = () => {};
(state.pool as unknown as { idle: Map<string, Connection[]> }).idle.set(endpoint.key, [conn]);

const server = { requestIP: () => ({ address: "::ffff:127.0.0.1", family: "IPv6", port: 40000 }), timeout() {} } as never;
const headers = { host: "bench.test", "user-agent": "wrk", accept: "*/*" };

async function one(): Promise<number> {
  const res = await fetchHandler(new Request("http://bench.test/index.html?x=1", { headers }), server);
  return res!.status;
}
async function baseline(): Promise<number> {
  const req = new Request("http://bench.test/index.html?x=1", { headers });
  return (await Promise.resolve(new Response(RESPONSE.subarray(0, 12)))).status + (req.method === "GET" ? 0 : 1);
}

for (let i = 0; i < 20_000; i++) await one();
// CPU time rather than wall time: a busy machine descheduling us does not inflate it.
for (const [name, fn] of [
  ["request + response objects only", baseline],
  ["soli-proxy request path", one],
] as const) {
  const before = process.cpuUsage();
  for (let i = 0; i < N; i++) if ((await fn()) !== 200) throw new Error("unexpected status");
  const used = process.cpuUsage(before);
  console.log(`${name.padEnd(34)} ${((used.user + used.system) / N).toFixed(2)} CPU-µs/request`);
}

/**
 * Objects allocated per request: heap cells by type (bun:jsc heapStats().objectTypeCounts, which
 * counts cells not yet swept, garbage included; its objectCount does not move) after a batch
 * minus before it. Each batch starts right after a full collection and is small (100 requests)
 * so that no collection runs inside it; a batch where one did (fewer cells after) is dropped.
 * What heapStats itself allocates is measured with an empty batch and taken off.
 */
async function allocations(fn: () => Promise<number>, batches = 15, size = 100): Promise<{ perRequest: number; types: [string, number][] }> {
  const samples: { perRequest: number; types: [string, number][] }[] = [];
  const cells = (h: ReturnType<typeof heapStats>) => Object.values(h.objectTypeCounts).reduce((a, n) => a + n, 0);
  gcAndSweep();
  const idle = heapStats();
  const overhead = cells(heapStats()) - cells(idle);
  for (let b = 0; b < batches; b++) {
    gcAndSweep();
    const before = heapStats();
    for (let i = 0; i < size; i++) await fn();
    const after = heapStats();
    const grown = cells(after) - cells(before) - overhead;
    if (grown <= 0) continue;
    const types = Object.entries(after.objectTypeCounts)
      .map(([t, n]): [string, number] => [t, (n - (before.objectTypeCounts[t] ?? 0)) / size])
      .filter(([, n]) => n >= 0.5)
      .sort((x, y) => y[1] - x[1]);
    samples.push({ perRequest: grown / size, types });
  }
  samples.sort((x, y) => x.perRequest - y.perRequest);
  return samples[Math.floor(samples.length / 2)] ?? { perRequest: Number.NaN, types: [] };
}

for (const [name, fn] of [
  ["request + response objects only", baseline],
  ["soli-proxy request path", one],
] as const) {
  const { perRequest, types } = await allocations(fn);
  const top = types
    .slice(0, 12)
    .map(([t, n]) => `${t} ${n.toFixed(1)}`)
    .join(", ");
  console.log(`${name.padEnd(34)} ${perRequest.toFixed(1)} objects allocated/request (${top})`);
}
