/**
 * Worker processes (SPEC §15.1): the same proxy with worker_threads = 1, then 2, in front of the
 * same backend, each driven by wrk on its own (HTTP/1.1 keep-alive, small body).
 *
 *   bun bench/workers.ts [seconds=5] [connections=50] [wrk threads=2]
 *
 * Needs wrk; nginx as the backend when installed. CPU-µs per request adds up the primary and its
 * workers (from /proc). The load generator and the backend share the machine's cores with the
 * proxy, so on a small machine the second worker competes with them: read the figures with that.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, cpuMicros, freePort, have, nginxAvailable, startHelloBackend, ROOT, start, table, waitPort, wrk } from "./lib.ts";

const seconds = Number(process.argv[2] ?? 5);
const connections = Number(process.argv[3] ?? 50);
const threads = Number(process.argv[4] ?? 2);
if (!have("wrk")) throw new Error("wrk is not installed (apt-get install wrk)");

const dir = mkdtempSync(join(tmpdir(), "soli-bench-workers-"));
const backendPort = await freePort();
const backend = startHelloBackend(dir, backendPort);
await waitPort(backendPort);
writeFileSync(join(dir, "proxy.conf"), `default -> http://127.0.0.1:${backendPort}\n`);

const rows: Record<string, string | number>[] = [];
try {
  for (const workers of [1, 2]) {
    const port = await freePort();
    writeFileSync(
      join(dir, "config.toml"),
      `[server]\nbind = "127.0.0.1:${port}"\nhttps_port = 0\nworker_threads = ${workers}\n[admin]\nenabled = false\n[logging]\nlevel = "warn"\n`,
    );
    const proxy = start([BUN, join(ROOT, "src/main.ts"), "-c", join(dir, "proxy.conf"), "--sites-dir", join(dir, "sites")]);
    try {
      await waitPort(port);
      await Bun.sleep(500); // every worker bound
      const url = `http://127.0.0.1:${port}/`;
      await wrk(url, 1, connections, [`-t${threads}`]); // warm-up
      const pids = [proxy.pid, ...childrenOf(proxy.pid)];
      const before = pids.reduce((sum, pid) => sum + cpuMicros(pid), 0);
      const r = await wrk(url, seconds, connections, [`-t${threads}`]);
      const cpu = (pids.reduce((sum, pid) => sum + cpuMicros(pid), 0) - before) / Math.max(1, r.requests);
      rows.push({
        worker_threads: workers,
        processes: pids.length,
        "req/s": Math.round(r.rps),
        "p50 ms": r.p50ms.toFixed(2),
        "p99 ms": r.p99ms.toFixed(2),
        "CPU-µs/req": cpu.toFixed(1),
        errors: r.errors,
      });
    } finally {
      proxy.kill();
      await proxy.exited;
    }
  }
} finally {
  backend.kill();
}
console.log(
  `\nbench/workers.ts — ${new Date().toISOString()} — wrk -t${threads} -c${connections} -d${seconds}s, HTTP/1.1 keep-alive, backend ${nginxAvailable() ? "nginx" : "Bun"}, bun ${Bun.version}, ${navigator.hardwareConcurrency} cores\n`,
);
console.log(table(rows));

/** Direct children of a process (its workers), from /proc. */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
