/**
 * Memory and CPU of slot processes (SPEC §11.2 `/app-metrics/system`) from /proc: RSS from
 * statm, CPU as the share of one core used since the previous sample of the same pid. Null where
 * unknown (first sample, no process, not Linux).
 */
import { readFileSync } from "node:fs";

/** The auxiliary vector entries the kernel hands every process (linux/auxvec.h). */
const AT_PAGESZ = 6n;
const AT_CLKTCK = 17n;

/**
 * The page size (statm counts pages) and clock ticks per second (stat counts ticks) of this
 * system, read from /proc/self/auxv rather than assumed: 4096 and 100 are common, not universal
 * (16 KiB and 64 KiB pages on some arm64 kernels). Read once.
 */
export function systemUnits(auxv = "/proc/self/auxv"): { pageBytes: number; ticksPerSecond: number } {
  const units = { pageBytes: 4096, ticksPerSecond: 100 };
  try {
    const raw = readFileSync(auxv);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let at = 0; at + 16 <= raw.byteLength; at += 16) {
      const type = view.getBigUint64(at, true);
      const value = Number(view.getBigUint64(at + 8, true));
      if (type === AT_PAGESZ && value > 0) units.pageBytes = value;
      if (type === AT_CLKTCK && value > 0) units.ticksPerSecond = value;
      if (type === 0n) break;
    }
  } catch {
    // not Linux: the values stay unknown in practice (no /proc), the defaults never get used
  }
  return units;
}

let units: { pageBytes: number; ticksPerSecond: number } | null = null;

export interface ProcessUsage {
  memory_rss_bytes: number | null;
  cpu_percent: number | null;
}

export class ProcStats {
  private readonly last = new Map<number, { ticks: number; at: number }>();

  sample(pid: number | null): ProcessUsage {
    if (pid === null) return { memory_rss_bytes: null, cpu_percent: null };
    let rss: number | null = null;
    let ticks: number | null = null;
    units ??= systemUnits();
    try {
      rss = Number(readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]) * units.pageBytes;
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
    } catch {
      this.last.delete(pid);
      return { memory_rss_bytes: null, cpu_percent: null };
    }
    const now = performance.now();
    const previous = this.last.get(pid);
    this.last.set(pid, { ticks, at: now });
    if (!previous || now <= previous.at) return { memory_rss_bytes: rss, cpu_percent: null };
    const cpu = ((ticks - previous.ticks) / units.ticksPerSecond / ((now - previous.at) / 1000)) * 100;
    return { memory_rss_bytes: rss, cpu_percent: Math.round(cpu * 10) / 10 };
  }

  prune(livePids: ReadonlySet<number>): void {
    for (const pid of this.last.keys()) if (!livePids.has(pid)) this.last.delete(pid);
  }
}
