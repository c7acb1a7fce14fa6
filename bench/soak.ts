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
console.log(
  table([
    { point: "start", "RSS MiB": r.start.rssMiB.toFixed(1), fds: r.start.fds },
    { point: `after warm-up (${r.warm.atSecs} s)`, "RSS MiB": r.warm.rssMiB.toFixed(1), fds: r.warm.fds },
    { point: `end (${r.end.atSecs} s)`, "RSS MiB": r.end.rssMiB.toFixed(1), fds: r.end.fds },
    { point: "peak after warm-up", "RSS MiB": Math.max(...after.map((s) => s.rssMiB)).toFixed(1), fds: Math.max(...after.map((s) => s.fds)) },
    { point: "idle, 11 s after the load", "RSS MiB": "", fds: r.fdsIdle },
  ]),
);
// RSS swings with garbage collection (a sample a second); compare windows, not single samples.
const windowSecs = 60;
const windows: { from: number; rss: number[]; fds: number[] }[] = [];
for (const s of after) {
  const from = warmupSecs + Math.floor((s.atSecs - warmupSecs) / windowSecs) * windowSecs;
  let w = windows.at(-1);
  if (!w || w.from !== from) windows.push((w = { from, rss: [], fds: [] }));
  w.rss.push(s.rssMiB);
  w.fds.push(s.fds);
}
const full = windows.filter((w) => w.rss.length >= windowSecs / 2);
console.log(
  table(
    full.map((w) => ({
      window: `${w.from}-${w.from + windowSecs} s`,
      "RSS min": Math.min(...w.rss).toFixed(1),
      "RSS median": median(w.rss).toFixed(1),
      "RSS max": Math.max(...w.rss).toFixed(1),
      "fds max": Math.max(...w.fds),
    })),
  ),
);
const first = full[0];
const last = full.at(-1);
if (first && last && first !== last) {
  const pct = (a: number, b: number) => (((b - a) / a) * 100).toFixed(1);
  console.log(
    `RSS drift after warm-up, first to last ${windowSecs} s window: median ${pct(median(first.rss), median(last.rss))}%, minimum ${pct(Math.min(...first.rss), Math.min(...last.rss))}%`,
  );
}
console.log(table(Object.entries(r.counts).map(([kind, n]) => ({ operation: kind, completed: n, "unexpected failures": r.errors[kind] ?? 0 }))));
console.log(
  `reloads applied ${r.reloads.applied}, failed ${r.reloads.failed}; backend streams left open ${r.openBackendStreams}; proxy exited ${r.proxyExited}; proxy stderr ${r.proxyStderr.length} bytes`,
);
for (const e of r.firstErrors) console.log(`  ERROR ${e}`);
if (r.proxyStderr) console.log(r.proxyStderr.slice(0, 2000));
