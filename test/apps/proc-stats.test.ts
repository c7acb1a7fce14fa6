import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ProcStats, systemUnits } from "../../src/apps/proc-stats.ts";
import { tempProject } from "../support/project.ts";

const getconf = (name: string) => Number(Bun.spawnSync(["getconf", name]).stdout.toString().trim());

describe("process figures of /app-metrics/system (SPEC §11.2)", () => {
  test("the page size and clock tick come from the system (auxv), as getconf says", () => {
    expect(systemUnits()).toEqual({ pageBytes: getconf("PAGESIZE"), ticksPerSecond: getconf("CLK_TCK") });
  });

  test("an auxiliary vector with 16 KiB pages and 250 ticks is read as such", () => {
    using project = tempProject();
    const file = join(project.dir, "auxv");
    const entries: [bigint, bigint][] = [
      [33n, 1n],
      [6n, 16384n],
      [17n, 250n],
      [0n, 0n],
    ];
    const buf = Buffer.alloc(entries.length * 16);
    entries.forEach(([type, value], i) => {
      buf.writeBigUInt64LE(type, i * 16);
      buf.writeBigUInt64LE(value, i * 16 + 8);
    });
    writeFileSync(file, buf);
    expect([systemUnits(file), systemUnits(join(project.dir, "missing"))]).toEqual([
      { pageBytes: 16384, ticksPerSecond: 250 },
      { pageBytes: 4096, ticksPerSecond: 100 },
    ]);
  });

  test("RSS matches the kernel's VmRSS of a real process, and CPU matches its schedstat run time (ns, no ticks involved)", async () => {
    const busy = Bun.spawn([process.execPath, "-e", "const end = Date.now() + 3000; while (Date.now() < end) {}"], { stdout: "ignore" });
    const ranNs = () => Number(readFileSync(`/proc/${busy.pid}/schedstat`, "utf8").split(" ")[0]);
    try {
      const stats = new ProcStats();
      const ran0 = ranNs();
      const t0 = performance.now();
      const first = stats.sample(busy.pid);
      await Bun.sleep(800); // the sampling window is the thing measured: CPU % over 0.8 s of a busy process
      const second = stats.sample(busy.pid);
      const kernelPercent = ((ranNs() - ran0) / 1e6 / (performance.now() - t0)) * 100;
      const vmRss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${busy.pid}/status`, "utf8"))?.[1]) * 1024;
      expect(first.cpu_percent).toBeNull();
      expect(Math.abs(second.memory_rss_bytes! - vmRss) / vmRss).toBeLessThan(0.1);
      // ticks are 10 ms coarse: within 15 points of the kernel's nanosecond figure
      expect(Math.abs(second.cpu_percent! - kernelPercent)).toBeLessThan(15);
    } finally {
      busy.kill();
    }
  });
});
