/**
 * A tiny timing harness for micro-benchmarks: warm up, then time batches until a time budget is
 * spent, and report the median ns per operation. Results consumed into a sink so the JIT cannot
 * drop the work.
 */
export let sink: unknown;

export function measure(name: string, fn: () => unknown, budgetMs = 300): { name: string; ns: number } {
  // Warm-up and batch size follow the operation's cost: 20,000 warm-up calls and batches of
  // 10,000 suit nanosecond operations, but made one run of a 2 ms config parse last minutes.
  const warmStart = performance.now();
  let warmed = 0;
  while (warmed < 20_000 && (warmed < 100 || performance.now() - warmStart < 1000)) {
    sink = fn();
    warmed++;
  }
  const msPerCall = (performance.now() - warmStart) / warmed;
  const batch = Math.max(1, Math.min(10_000, Math.round(10 / msPerCall)));
  const samples: number[] = [];
  const end = performance.now() + budgetMs;
  while (performance.now() < end || samples.length < 5) {
    const t = performance.now();
    for (let i = 0; i < batch; i++) sink = fn();
    samples.push(((performance.now() - t) * 1e6) / batch);
  }
  samples.sort((a, b) => a - b);
  return { name, ns: samples[Math.floor(samples.length / 2)]! };
}

export function report(title: string, rows: { name: string; ns: number }[], reference: Record<string, string> = {}): void {
  console.log(`\n${title}`);
  const width = Math.max(...rows.map((r) => r.name.length));
  for (const r of rows) {
    const ns = r.ns >= 1000 ? `${(r.ns / 1000).toFixed(2)} µs` : `${r.ns.toFixed(1)} ns`;
    const ref = reference[r.name] ? `   (original Rust: ${reference[r.name]})` : "";
    console.log(`  ${r.name.padEnd(width)}  ${ns.padStart(10)}${ref}`);
  }
}
