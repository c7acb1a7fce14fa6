/**
 * A tiny timing harness for micro-benchmarks: warm up, then time batches until a time budget is
 * spent, and report the median ns per operation. Results consumed into a sink so the JIT cannot
 * drop the work.
 */
export let sink: unknown;

export function measure(name: string, fn: () => unknown, budgetMs = 300): { name: string; ns: number } {
  for (let i = 0; i < 20_000; i++) sink = fn();
  const batch = 10_000;
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
