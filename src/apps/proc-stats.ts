/**
 * Memory and CPU of slot processes (SPEC §11.2 `/app-metrics/system`) from /proc: RSS from
 * statm, CPU as the share of one core used since the previous sample of the same pid. Null where
 * unknown (first sample, no process, not Linux).
 */
import { readFileSync } from "node:fs";

const PAGE_BYTES = 4096;
const TICKS_PER_SECOND = 100;

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
    try {
      rss = Number(readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]) * PAGE_BYTES;
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
    const cpu = ((ticks - previous.ticks) / TICKS_PER_SECOND / ((now - previous.at) / 1000)) * 100;
    return { memory_rss_bytes: rss, cpu_percent: Math.round(cpu * 10) / 10 };
  }

  prune(livePids: ReadonlySet<number>): void {
    for (const pid of this.last.keys()) if (!livePids.has(pid)) this.last.delete(pid);
  }
}
