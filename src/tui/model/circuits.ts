/** The Circuits screen's rows (SPEC §6.2, §11.2): open breakers first, then half-open, then closed. */
import type { BreakerInfo } from "../data/api-types.ts";

export interface BreakerRow extends BreakerInfo {
  origin: string;
}

const SEVERITY: Record<string, number> = { open: 0, half_open: 1, closed: 2 };

export function breakerRows(breakers: Readonly<Record<string, BreakerInfo>> | null): BreakerRow[] {
  return Object.entries(breakers ?? {})
    .map(([origin, b]) => ({ origin, ...b }))
    .sort((a, b) => (SEVERITY[a.state] ?? 3) - (SEVERITY[b.state] ?? 3) || a.origin.localeCompare(b.origin));
}
