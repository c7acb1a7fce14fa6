/**
 * Added cost per request of the shared rate-limit paths (issue 17), in one run so the figures
 * compare under the same machine load:
 *
 *  1. in-process, per take: the memory bucket (synchronous), and the Redis script (EVALSHA, one
 *     round trip) awaited one at a time and with 32 in flight;
 *  2. end to end with wrk, each limited case right after the unlimited one on an identical proxy:
 *     one process with the memory backend, one process with the Redis backend (cluster mode), and
 *     worker_threads = 2 with the machine-wide memory backend (a token from the primary over IPC).
 *     Reports req/s and the CPU-µs per request of the proxy processes (primary and workers) and of
 *     redis-server, the figure that compares across machines.
 *
 *   bun bench/rate-limit.ts [seconds=4] [connections=32]
 *
 * Needs redis-server and wrk; uses nginx as the backend when installed. Not run in CI.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RedisLink } from "../src/cluster/redis.ts";
import { RedisBuckets } from "../src/cluster/rate.ts";
import { createLogger } from "../src/lib/log.ts";
import { Limiter } from "../src/state/limiter.ts";
import { BUN, cpuMicros, freePort, have, nginxAvailable, ROOT, start, startHelloBackend, table, waitPort, wrk } from "./lib.ts";

const seconds = Number(process.argv[2] ?? 4);
const connections = Number(process.argv[3] ?? 32);
if (!have("redis-server")) throw new Error("redis-server is not installed (apt-get install redis-server)");

const dir = mkdtempSync(join(tmpdir(), "soli-bench-rl-"));
const redisPort = await freePort();
const redis = start(["redis-server", "--port", String(redisPort), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"]);
await waitPort(redisPort);
const redisUrl = `redis://127.0.0.1:${redisPort}`;
const spec = { perSecond: 1e9, burst: 1e9 };

// ---- 1. in-process -------------------------------------------------------------------------
const log = createLogger({ level: "silent", format: "json", output: "stderr" });
const link = new RedisLink({ url: redisUrl, log: () => log });
await link.start();
const shared = new RedisBuckets(link, "bench");
const memory = new Limiter();

async function perTake(name: string, n: number, inFlight: number, take: (i: number) => unknown): Promise<Record<string, string>> {
  for (let i = 0; i < 2000; i++) await take(i);
  const t = performance.now();
  for (let i = 0; i < n; i += inFlight) {
    const batch: unknown[] = [];
    for (let j = 0; j < inFlight; j++) batch.push(take(i + j));
    if (inFlight > 1 || batch[0] instanceof Promise) await Promise.all(batch);
  }
  return { take: name, "µs/take": (((performance.now() - t) * 1000) / n).toFixed(2) };
}

const micro = [
  await perTake("memory bucket", 500_000, 1, (i) => memory.takeLocal(memory.global, `198.51.100.${i & 255}`, spec)),
  await perTake("redis script, 1 in flight (round trip)", 20_000, 1, (i) => shared.take("", `198.51.100.${i & 255}`, spec)),
  await perTake("redis script, 32 in flight", 100_000, 32, (i) => shared.take("", `198.51.100.${i & 255}`, spec)),
];
link.close();

// ---- 2. end to end -------------------------------------------------------------------------
const rows: Record<string, string | number>[] = [];
if (!have("wrk")) console.warn("wrk is not installed (apt-get install wrk): end-to-end part skipped");
else {
  const backendPort = await freePort();
  const backend = startHelloBackend(dir, backendPort);
  await waitPort(backendPort);
  const procs: { kill(): void }[] = [backend];
  let n = 0;
  const startProxy = async (workers: number, extra: string) => {
    const sub = join(dir, `p${++n}`);
    mkdirSync(sub);
    const port = await freePort();
    writeFileSync(join(sub, "proxy.conf"), `default -> http://127.0.0.1:${backendPort}\n`);
    writeFileSync(
      join(sub, "config.toml"),
      `[server]\nbind = "127.0.0.1:${port}"\nhttps_port = 0\nworker_threads = ${workers}\n[admin]\nenabled = false\n[logging]\nlevel = "warn"\n${extra}\n`,
    );
    const proc = start([BUN, join(ROOT, "src/main.ts"), "-c", join(sub, "proxy.conf")]);
    procs.push(proc);
    await waitPort(port);
    return { pid: proc.pid, port };
  };
  const limited = `[rate_limiting]\nenabled = true\nrequests_per_second = 1000000000\nburst_size = 1000000000`;
  const cluster = (name: string) => `[cluster]\nredis_url = "${redisUrl}"\nname = "${name}"\nnode_id = "${name}"`;
  const measure = async (proxy: { pid: number; port: number }) => {
    const url = `http://127.0.0.1:${proxy.port}/`;
    await wrk(url, 2, connections); // warm-up (JIT)
    const pids = [proxy.pid, ...childrenOf(proxy.pid)];
    const cpu = () => pids.reduce((a, p) => a + cpuMicros(p), 0);
    const before = { proxy: cpu(), redis: cpuMicros(redis.pid) };
    const r = await wrk(url, seconds, connections);
    const per = (x: number) => x / Math.max(1, r.requests);
    return { rps: r.rps, p99: r.p99ms, cpu: per(cpu() - before.proxy), redis: per(cpuMicros(redis.pid) - before.redis), errors: r.errors };
  };
  const cases: [string, number, string, string][] = [
    ["memory, 1 process", 1, "", limited],
    ["redis (cluster), 1 process", 1, cluster("plain"), `${cluster("limited")}\n${limited}`],
    ["memory, worker_threads = 2 (tokens from the primary)", 2, "", limited],
  ];
  try {
    for (const [name, workers, plainToml, limitedToml] of cases) {
      const plain = await measure(await startProxy(workers, plainToml));
      const withLimit = await measure(await startProxy(workers, limitedToml));
      rows.push({
        backend: name,
        "req/s none": Math.round(plain.rps),
        "req/s limited": Math.round(withLimit.rps),
        "p99 ms none": plain.p99.toFixed(2),
        "p99 ms limited": withLimit.p99.toFixed(2),
        "proxy CPU-µs/req none": plain.cpu.toFixed(1),
        "proxy CPU-µs/req limited": withLimit.cpu.toFixed(1),
        "Δ proxy CPU-µs/req": (withLimit.cpu - plain.cpu).toFixed(1),
        "redis CPU-µs/req": withLimit.redis.toFixed(1),
        errors: plain.errors + withLimit.errors,
      });
    }
  } finally {
    for (const p of procs) p.kill();
  }
}
redis.kill();

console.log(`\nbench/rate-limit.ts — ${new Date().toISOString()} — bun ${Bun.version}\n\nIn-process, per take:\n`);
console.log(table(micro));
if (rows.length) {
  console.log(`\nEnd to end: wrk -t1 -c${connections} -d${seconds}s, HTTP/1.1 keep-alive, backend ${nginxAvailable() ? "nginx" : "Bun"}:\n`);
  console.log(table(rows));
}

/** Child processes of `pid` (the workers of a primary), from /proc. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
