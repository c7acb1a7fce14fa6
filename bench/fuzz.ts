/**
 * Fuzzing, bounded (issue 11, item 4):
 *
 *   bun bench/fuzz.ts [inputs=100000] [seed=1] [requests=10000]
 *
 * 1. proxy.conf and app.infos: `inputs` random and mutated texts each (seeded; the same seed gives
 *    the same inputs). Every input must validate and compile (proxy.conf also survives a serialize
 *    → parse round trip) or be refused with errors that name the file and a line; a throw is a
 *    failure. Prints counts, failures (with the input) and the slowest input.
 * 2. Pathological inputs (long continuations, thousands of keys, deep nesting): time per input.
 * 3. `requests` mutated raw HTTP requests against a proxy in its own process, 50 at a time, with a
 *    strict backend: the proxy must not exit or print to stderr, must keep serving, and must send
 *    the backend only well-formed HTTP/1.1.
 * 4. The route index (issue 20): `inputs / 10` generated path-rule tables, 100 paths each, matched
 *    with the first-segment index and with the plain scan; any difference is a failure.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fuzz, type FuzzStats } from "../test/support/fuzz.ts";
import { APP_INFOS_DICTIONARY, appInfosSeeds, checkAppInfos, checkProxyConf, PROXY_CONF_DICTIONARY, proxyConfSeeds } from "../test/support/fuzz-targets.ts";
import { fuzzHttp, strictBackend } from "../test/support/http-fuzz.ts";
import { spawnProxy } from "../test/support/spawn.ts";
import { testToml } from "../test/support/project.ts";
import { fuzzRouteIndex } from "../test/support/route-index-fuzz.ts";
import { table } from "./lib.ts";

const inputs = Number(process.argv[2] ?? 100_000);
const seed = Number(process.argv[3] ?? 1);
const requests = Number(process.argv[4] ?? 10_000);

function report(name: string, stats: FuzzStats, seconds: number): Record<string, string | number> {
  for (const f of stats.failures.slice(0, 5))
    console.log(`  ${name} FAILURE: ${f.problem.split("\n")[0]}\n    input: ${JSON.stringify(f.input).slice(0, 300)}`);
  return {
    parser: name,
    inputs: stats.inputs,
    valid: stats.valid,
    refused: stats.refused,
    failures: stats.failures.length,
    "slowest input": `${stats.slowestMs.toFixed(1)} ms (${stats.slowestLength} chars)`,
    total: `${seconds.toFixed(1)} s`,
  };
}

console.log(`config fuzzing: ${inputs} inputs per parser, seed ${seed}`);
const rows: Record<string, string | number>[] = [];
for (const [name, check, seeds, dictionary] of [
  ["proxy.conf", checkProxyConf, proxyConfSeeds(), PROXY_CONF_DICTIONARY],
  ["app.infos", checkAppInfos, appInfosSeeds(), APP_INFOS_DICTIONARY],
] as const) {
  const started = performance.now();
  const stats = fuzz({ seed, count: inputs, seeds, dictionary, check });
  rows.push(report(name, stats, (performance.now() - started) / 1000));
}
console.log(table(rows));

const rule = (i: number) => `/r${i} -> http://h${i}:1`;
const pathological: [string, string, (t: string) => string][] = [
  ["40,000 continuation lines", "/a -> http://x:1 \\\n".repeat(40_000) + "\n", checkProxyConf],
  ["20,000 unterminated blocks", "headers {\n".repeat(20_000), checkProxyConf],
  ["1 MiB target URL", "/a -> http://x:1/" + "a".repeat(1 << 20) + "\n", checkProxyConf],
  ["10,000 rules", Array.from({ length: 10_000 }, (_, i) => rule(i)).join("\n"), checkProxyConf],
  ["10,000 targets in one rule", "/a -> " + Array.from({ length: 10_000 }, (_, i) => `http://h${i}:1`).join(", "), checkProxyConf],
  ["5,000 nested regex groups", "~" + "(".repeat(5000) + "a" + ")".repeat(5000) + " -> http://x:1/$4999\n", checkProxyConf],
  ["50,000 unknown keys (app.infos)", Array.from({ length: 50_000 }, (_, i) => `k${i} = 1`).join("\n"), checkAppInfos],
  ["5,000 nested arrays (app.infos)", "a = " + "[".repeat(5000) + "]".repeat(5000), checkAppInfos],
  ["3,000 nested inline tables (app.infos)", "a = " + "{b = ".repeat(3000) + "1" + "}".repeat(3000), checkAppInfos],
];
const patho: Record<string, string>[] = [];
for (const [name, text, check] of pathological) {
  const started = performance.now();
  let outcome: string;
  try {
    outcome = check(text);
  } catch (err) {
    outcome = `THREW ${(err as Error).message}`;
  }
  patho.push({
    "pathological input": name,
    size: `${(text.length / 1024).toFixed(0)} KiB`,
    outcome: outcome.split("\n")[0]!.slice(0, 60),
    time: `${(performance.now() - started).toFixed(0)} ms`,
  });
}
console.log(table(patho));

{
  const tables = Math.max(1, Math.floor(inputs / 10));
  const started = performance.now();
  const result = fuzzRouteIndex(seed, tables, 100);
  console.log(`route index differential: ${tables} tables × 100 paths, seed ${seed}`);
  console.log(
    table([
      {
        tables: result.tables,
        "indexed tables": result.indexedTables,
        paths: result.paths,
        differences: result.failures.length,
        time: `${((performance.now() - started) / 1000).toFixed(1)} s`,
      },
    ]),
  );
  for (const f of result.failures.slice(0, 5)) console.log(`  DIFFERENCE: ${f.path} indexed → rule #${f.indexed}, scan → rule #${f.scanned}\n${f.table}`);
}

console.log(`HTTP fuzzing: ${requests} mutated requests, seed ${seed}`);
const strict = await strictBackend();
const dir = mkdtempSync(join(tmpdir(), "soli-fuzz-"));
writeFileSync(join(dir, "proxy.conf"), `default -> http://127.0.0.1:${strict.port}\n`);
writeFileSync(join(dir, "config.toml"), testToml());
const proxy = await spawnProxy(join(dir, "proxy.conf"), { args: ["--watch", "false"] });
const started = performance.now();
const stats = await fuzzHttp(proxy.http, { seed, count: requests, concurrency: 50, timeoutMs: 500 });
const seconds = (performance.now() - started) / 1000;
const after = await fetch(`http://127.0.0.1:${proxy.http}/after`).then(
  async (r) => `${r.status} ${await r.text()}`,
  (e: Error) => e.message,
);
console.log(
  table([
    {
      requests: stats.sent,
      "answers by status (0: closed)": JSON.stringify(stats.statuses),
      "backend requests": strict.requests,
      violations: strict.violations.length,
      "proxy exited": String(proxy.proc.exitCode !== null),
      "stderr bytes": proxy.errors().length,
      afterwards: after,
      time: `${seconds.toFixed(1)} s`,
    },
  ]),
);
for (const v of strict.violations.slice(0, 5)) console.log(`  VIOLATION: ${v.why}\n    ${JSON.stringify(v.bytes)}`);
if (proxy.errors()) console.log(`  proxy stderr: ${proxy.errors().slice(0, 2000)}`);
await proxy.stop("SIGTERM");
strict.stop();
rmSync(dir, { recursive: true, force: true });
