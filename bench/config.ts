/**
 * Configuration benchmark: CPU time of each stage a reload runs on proxy.conf, for 5, 100, 1,000
 * and 10,000 rules: the syntax (parseProxyConf, shadowed-rule warnings included), the value checks
 * (rule-checks.ts), the compile (route table, snapshot, freeze) and the three in a row as a reload
 * runs them; then the reload latency of a 1,000-rule file, idle and while wrk keeps the proxy
 * busy. (The original Rust soli-proxy parses 100 rules in 45 µs.)
 *
 *   bun bench/config.ts [load-seconds=5] [connections=50]
 *
 * Needs wrk for the reload-under-load part (skipped without it; the idle reloads run anyway). The proxy runs in this process so
 * reload() can be timed directly; the backend is a separate Bun process.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compile } from "../src/config/compile.ts";
import { configFiles, validateProxyConfText } from "../src/config/load.ts";
import { defaultSettings } from "../src/config/settings.ts";
import { checkParsedConf } from "../src/config/rule-checks.ts";
import { parseProxyConf } from "../src/config/syntax.ts";
import { silentLogger } from "../src/lib/log.ts";
import { startProxy } from "../src/runtime/runtime.ts";
import { BUN, freePort, have, start, table, waitPort, wrk } from "./lib.ts";

const loadSeconds = Number(process.argv[2] ?? 5);
const connections = Number(process.argv[3] ?? 50);

/** A realistic mix: hosts, host paths, prefixes, exact paths, regexes, weights, @lb, header blocks. */
export function rules(n: number, backend = "http://10.0.0.1:8080"): string {
  const lines: string[] = ["# generated", "headers {", "    X-Served-By: soli-proxy", "}"];
  for (let i = 0; i < n; i++) {
    switch (i % 6) {
      case 0:
        lines.push(`site${i}.example.com -> ${backend}, http://10.0.1.${i % 250}:8080 @lb:failover`);
        break;
      case 1:
        lines.push(`shop${i}.example.com/api/* -> weight:70 ${backend}, weight:30 http://10.0.2.${i % 250}:8080`);
        break;
      case 2:
        lines.push(`/svc${i}/* -> ${backend}/svc`, "headers {", "    X-Route: $host", "    -Cookie", "}");
        break;
      case 3:
        lines.push(`/exact${i} -> ${backend}/e${i}`);
        break;
      case 4:
        lines.push(`~^/users${i}/(\\d+)$ -> ${backend}/users/$1`);
        break;
      default:
        lines.push(`# rule ${i}`, `/p${i}/* -> ${backend}`);
    }
  }
  lines.push(`default -> ${backend}`);
  return lines.join("\n") + "\n";
}

/** CPU time per run (this process's user + system), so that a busy machine's other work is not counted. */
function time(fn: () => void, minMs = 400): number {
  fn(); // warm-up
  let runs = 0;
  const wallStart = performance.now();
  const cpuStart = process.cpuUsage();
  while (performance.now() - wallStart < minMs || runs < 3) {
    fn();
    runs++;
  }
  const cpu = process.cpuUsage(cpuStart);
  return (cpu.user + cpu.system) / runs; // µs per run
}

const fmt = (us: number) => (us >= 10_000 ? `${(us / 1000).toFixed(1)} ms` : `${us.toFixed(1)} µs`);

const files = { conf: "/bench/proxy.conf", toml: "/bench/config.toml", dir: "/bench" };
const settings = defaultSettings();
const rows: Record<string, string | number>[] = [];
for (const n of [5, 100, 1_000, 10_000]) {
  const text = rules(n);
  const valid = validateProxyConfText(text, "proxy.conf");
  if (!valid.conf) throw new Error(`generated config is invalid: ${JSON.stringify(valid.issues.slice(0, 3))}`);
  const parsed = parseProxyConf(text);
  const parse = time(() => parseProxyConf(text));
  const checks = time(() => checkParsedConf(parsed.conf));
  // compile changes nothing in its input (it only freezes the conf object itself), so one
  // validated conf is compiled again and again. As in a reload, it reuses the parts of each target
  // URL the checks parsed (rule-checks.ts checkedTargetUrls): that parse is in the checks column.
  const build = time(() => compile({ version: 1, dev: false, conf: valid.conf!, settings, files }));
  const total = time(() => compile({ version: 1, dev: false, conf: validateProxyConfText(text, "proxy.conf").conf!, settings, files }));
  rows.push({ rules: n, "parse (syntax)": fmt(parse), checks: fmt(checks), compile: fmt(build), "all three": fmt(total), "per rule": fmt(total / n) });
}
console.log(`\nbench/config.ts — ${new Date().toISOString()} — bun ${Bun.version}\n`);
console.log(table(rows));

const dir = mkdtempSync(join(tmpdir(), "soli-bench-config-"));
const backendPort = await freePort();
const backendProc = start([BUN, "-e", `Bun.serve({port:${backendPort},hostname:"127.0.0.1",fetch:()=>new Response("hello world\\n")})`]);
await waitPort(backendPort);
const proxyPort = await freePort();
const backendUrl = `http://127.0.0.1:${backendPort}`;
writeFileSync(join(dir, "proxy.conf"), rules(1_000, backendUrl));
writeFileSync(
  join(dir, "config.toml"),
  `[server]\nbind = "127.0.0.1:${proxyPort}"\nhttps_port = 0\nworker_threads = 1\n[admin]\nenabled = false\n[logging]\nlevel = "warn"\n`,
);
const proxy = await startProxy({ confPath: join(dir, "proxy.conf"), watch: false, logger: silentLogger(), env: {} });

const reloadTimes = async (count: number): Promise<number[]> => {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    // A real change each time, so every reload parses, validates, compiles and swaps.
    writeFileSync(configFiles(join(dir, "proxy.conf")).conf, rules(1_000, backendUrl) + `/bench${i} -> ${backendUrl}\n`);
    const t = performance.now();
    const result = await proxy.reload();
    out.push(performance.now() - t);
    if (!result.ok) throw new Error("reload rejected");
    await Bun.sleep(50);
  }
  return out.sort((a, b) => a - b);
};
const summary = (ms: number[]) => `p50 ${ms[Math.floor(ms.length / 2)]!.toFixed(1)} ms, max ${ms[ms.length - 1]!.toFixed(1)} ms`;

try {
  const idle = await reloadTimes(10);
  console.log(`\nreload of a 1,000-rule proxy.conf (read + validate + compile + swap), in-process:`);
  console.log(`  idle:  ${summary(idle)} (10 reloads)`);
  if (!have("wrk")) console.log("  wrk not installed: skipping reload latency under load");
  else await reloadsUnderLoad();
} finally {
  await proxy.shutdown();
  backendProc.kill();
}

async function reloadsUnderLoad(): Promise<void> {
  const load = wrk(`http://127.0.0.1:${proxyPort}/p5/x`, loadSeconds, connections);
  await Bun.sleep(500);
  const busy = await reloadTimes(Math.max(5, Math.floor(((loadSeconds - 1) * 1000) / 120)));
  const traffic = await load;
  console.log(`  under wrk -t1 -c${connections} -d${loadSeconds}s: ${summary(busy)} (${busy.length} reloads)`);
  console.log(
    `  traffic meanwhile: ${Math.round(traffic.rps)} req/s, p99 ${traffic.p99ms.toFixed(2)} ms, ${traffic.errors} errors/non-2xx of ${traffic.requests}`,
  );
}
