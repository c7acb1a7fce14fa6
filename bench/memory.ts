/**
 * Memory of a started proxy, for small servers (issue 19): idle RSS and peak RSS under the
 * HTTP/1.1 keep-alive load of bench/compare.ts, for `bun src/main.ts` and for the compiled
 * executable (`npm run build` → dist/soli-proxy, rebuilt here when older than src/).
 *
 *   bun bench/memory.ts [--seconds 5] [--settle 3] [--runs source,binary,<path of an executable>] [--load 1|0] [--admin 1|0]
 *                       [--workers 1]
 *
 * An executable's path in --runs measures that build too (another commit's `npm run build`), so two
 * builds are compared in one run, on the same machine load.
 *
 * Each run starts the proxy on a temp project with a few rules and no apps (one process, as
 * compare.ts: `worker_threads = 1`; admin listener on, as by default, unless `--admin 0`), waits for
 * its "listening" line, lets it settle `--settle` seconds and reads /proc/<pid>/status: VmRSS (idle)
 * and, after `--seconds` of `wrk -t1 -c50` on a 12-byte nginx (or Bun) backend, VmHWM (peak) and
 * VmRSS again. Extra environment for the proxy (BUN_JSC_* and friends) is passed through as is:
 * JavaScriptCore sizes its heap by the machine's RAM, so `BUN_JSC_forceRAMSize=1073741824` shows the
 * peak a 1 GiB server would see.
 * `--workers N` (N > 1) sets worker_threads = N instead and reports the idle RSS of the primary and
 * of each worker process; no load run then (the CPU figure would be the primary's alone).
 */
import { readFileSync } from "node:fs";
import { compiledBinary } from "../test/support/binary.ts";
import { tempProject } from "../test/support/project.ts";
import { spawnProxy } from "../test/support/spawn.ts";
import { cpuMicros, freePort, have, startHelloBackend, table, waitPort, wrk } from "./lib.ts";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "");
const seconds = Number(args.get("seconds") ?? 5);
const settle = Number(args.get("settle") ?? 3);
const runs = (args.get("runs") ?? "source,binary").split(",");
const load = args.get("load") !== "0" && Number(args.get("workers") ?? 1) <= 1 && have("wrk");
const admin = args.get("admin") !== "0";
const workers = Math.max(1, Number(args.get("workers") ?? 1));

/** One field of /proc/<pid>/status, in MiB. */
function statusMiB(pid: number, field: "VmRSS" | "VmHWM" | "RssAnon" | "RssFile"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
}

/** The idle figures of the proxy process, then one row per worker process it started (its children). */
function processRows(run: string, pid: number): Record<string, string | number>[] {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  const rows = [{ run, ...idleFigures(pid) }];
  if (workers > 1) children.forEach((child, i) => rows.push({ run: `  worker ${i + 1}`, ...idleFigures(child) }));
  return rows;
}

function idleFigures(pid: number): Record<string, string | number> {
  return {
    "idle RSS MiB": statusMiB(pid, "VmRSS").toFixed(1),
    "anon MiB": statusMiB(pid, "RssAnon").toFixed(1),
    "file MiB": statusMiB(pid, "RssFile").toFixed(1),
    threads: Number(/Threads:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0),
  };
}

using backendDir = tempProject();
const backendPort = await freePort();
const backend = startHelloBackend(backendDir.dir, backendPort);
await waitPort(backendPort);
const origin = `http://127.0.0.1:${backendPort}`;

const rows: Record<string, string | number>[] = [];
try {
  for (const kind of runs) {
    const exe = kind === "binary" ? await compiledBinary() : kind === "source" ? undefined : kind;
    const name = kind === "binary" ? "compiled executable" : kind === "source" ? "bun src/main.ts" : kind;
    // A fresh project: the first start also makes the self-signed fallback certificate (SPEC §12.4);
    // a restart finds it in certs/.
    using project = tempProject({
      "proxy.conf":
        [`/api/* -> ${origin}, ${origin}`, `/static/* -> ${origin}`, `~^/users/(\\d+)$ -> ${origin}/users/$1`, `default -> ${origin}`].join("\n") + "\n",
      "config.toml": `[server]\nbind = "127.0.0.1:0"\nhttps_port = 0\nworker_threads = ${workers}\n[admin]\n${admin ? 'enabled = true\nbind = "127.0.0.1:0"' : "enabled = false"}\n`,
    });
    const start = () => spawnProxy(project.conf, { exe, env: exe ? { PATH: process.env.PATH ?? "", ...bunEnv() } : bunEnv() });
    {
      await using first = await start();
      await Bun.sleep(settle * 1000); // idle means "some time after start": there is no event to await
      rows.push(...processRows(`${name}, first start`, first.proc.pid));
    }
    await using proxy = await start();
    const pid = proxy.proc.pid;
    await Bun.sleep(settle * 1000);
    const [row, ...workerRows] = processRows(`${name}, restart`, pid) as [Record<string, string | number>, ...Record<string, string | number>[]];
    if (load) {
      await wrk(`http://127.0.0.1:${proxy.http}/`, 1, 50); // warm-up
      const before = cpuMicros(pid);
      const r = await wrk(`http://127.0.0.1:${proxy.http}/`, seconds, 50);
      row["req/s"] = Math.round(r.rps);
      row["CPU-µs/req"] = ((cpuMicros(pid) - before) / Math.max(1, r.requests)).toFixed(1);
      row["peak RSS MiB"] = statusMiB(pid, "VmHWM").toFixed(1);
      row["RSS after load MiB"] = statusMiB(pid, "VmRSS").toFixed(1);
      row.errors = r.errors;
    }
    rows.push(row, ...workerRows);
  }
} finally {
  backend.kill();
}
console.log(
  `\nbench/memory.ts — ${new Date().toISOString()} — bun ${Bun.version}, settle ${settle}s, admin ${admin ? "on" : "off"}${load ? `, wrk -t1 -c50 ${seconds}s` : ""}`,
);
const extra = Object.keys(bunEnv());
if (extra.length) console.log(`environment: ${extra.map((k) => `${k}=${process.env[k]}`).join(" ")}`);
// Rows without a load run show "-" in its columns.
const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
console.log(table(rows.map((r) => Object.fromEntries(columns.map((c) => [c, r[c] ?? "-"])))));

/** The BUN_* / BUN_JSC_* variables of this run, handed to the compiled executable too. */
function bunEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith("BUN_") && e[1] !== undefined));
}
