/**
 * Soak (issue 11, item 5): a proxy process under a mixed, paced load for a bounded time.
 *
 *   bun bench/soak.ts [seconds=600] [warmup=60] [reload-every=10]
 *
 * Load: 4 keep-alive GET clients (~5 ms apart each), 2 streamed uploads and 2 streamed downloads
 * (1 B to 2.5 MB, checked by SHA-256), a client aborting an endless download and one aborting an
 * upload (intended failures), 2 WebSocket clients opening, echoing 20 messages and closing, and a
 * proxy.conf rewrite + SIGHUP every `reload-every` seconds. Prints the proxy's RSS and descriptors
 * at start, after the warm-up and at the end (drift after warm-up should stay within 5%), counts,
 * and every failure that was not an intended abort. Loopback only; machine shared, run it once.
 */
import { runSoak } from "../test/support/soak.ts";
import { table } from "./lib.ts";

const seconds = Number(process.argv[2] ?? 600);
const warmupSecs = Number(process.argv[3] ?? 60);
const reloadEverySecs = Number(process.argv[4] ?? 10);

console.log(`soak: ${seconds} s, warm-up ${warmupSecs} s, reload every ${reloadEverySecs} s`);
const r = await runSoak({ seconds, warmupSecs, reloadEverySecs, log: (line) => console.log(`  ${line}`) });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const after = r.samples.filter((s) => s.atSecs >= warmupSecs);
const lastMinute = after.filter((s) => s.atSecs >= r.end.atSecs - 60).map((s) => s.rssMiB);
const firstMinute = after.filter((s) => s.atSecs < warmupSecs + 60).map((s) => s.rssMiB);
console.log(
  table([
    { point: "start", "RSS MiB": r.start.rssMiB.toFixed(1), fds: r.start.fds },
    { point: `after warm-up (${r.warm.atSecs} s)`, "RSS MiB": r.warm.rssMiB.toFixed(1), fds: r.warm.fds },
    { point: `end (${r.end.atSecs} s)`, "RSS MiB": r.end.rssMiB.toFixed(1), fds: r.end.fds },
    { point: "peak after warm-up", "RSS MiB": Math.max(...after.map((s) => s.rssMiB)).toFixed(1), fds: Math.max(...after.map((s) => s.fds)) },
    { point: "idle, 11 s after the load", "RSS MiB": "", fds: r.fdsIdle },
  ]),
);
const drift = ((r.end.rssMiB - r.warm.rssMiB) / r.warm.rssMiB) * 100;
const medianDrift = ((median(lastMinute) - median(firstMinute)) / median(firstMinute)) * 100;
console.log(`RSS drift after warm-up: ${drift.toFixed(1)}% (end vs warm-up sample), ${medianDrift.toFixed(1)}% (median of the last minute vs the first minute after warm-up)`);
console.log(table(Object.entries(r.counts).map(([kind, n]) => ({ operation: kind, completed: n, "unexpected failures": r.errors[kind] ?? 0 }))));
console.log(`reloads applied ${r.reloads.applied}, failed ${r.reloads.failed}; backend streams left open ${r.openBackendStreams}; proxy exited ${r.proxyExited}; proxy stderr ${r.proxyStderr.length} bytes`);
for (const e of r.firstErrors) console.log(`  ERROR ${e}`);
if (r.proxyStderr) console.log(r.proxyStderr.slice(0, 2000));
