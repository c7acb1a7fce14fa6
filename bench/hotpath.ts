/**
 * The proxy's own JavaScript per request, without sockets: the real door (server/http.ts), phases
 * (proxy/) and upstream exchange (upstream/exchange.ts) driven with in-memory requests, a fake
 * Bun server and a pooled connection that answers with a canned nginx response. No syscalls, so
 * the figure is steady on a busy machine; it is the part of CPU-µs/request that soli-proxy's code
 * decides (the rest is Bun.serve and the kernel).
 *
 *   bun bench/hotpath.ts [requests=200000]
 */
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
state.breakers.configure(loaded.settings!.circuit_breaker, snapshot.limits.requestTimeoutMs);
const log = silentLogger();
const fetchHandler = createFetchHandler({ current: () => snapshot, state, log: () => log, scheme: "http" });

// One pooled "connection" whose socket answers every request with nginx's bytes, a microtask later.
const RESPONSE = Buffer.from(
  "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 28 Nov 2026 21:23:50 GMT\r\nContent-Type: application/octet-stream\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\nhello world\n",
  "latin1",
);
const endpoint = endpointOf({ hostname: "127.0.0.1", port: 1, secure: false });
const conn = new Connection(endpoint);
conn.socket = { write: (d: string | Uint8Array) => (queueMicrotask(() => conn.handleData(RESPONSE)), d.length), timeout() {}, pause() {}, resume() {}, terminate() {} } as never;
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
for (const [name, fn] of [["request + response objects only", baseline], ["soli-proxy request path", one]] as const) {
  const before = process.cpuUsage();
  for (let i = 0; i < N; i++) if ((await fn()) !== 200) throw new Error("unexpected status");
  const used = process.cpuUsage(before);
  console.log(`${name.padEnd(34)} ${((used.user + used.system) / N).toFixed(2)} CPU-µs/request`);
}
