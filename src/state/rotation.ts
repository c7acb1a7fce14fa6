/**
 * Load-balancing counters (SPEC §6.1), one per rule, keyed by the rule's matcher text so a reload
 * that keeps the rule keeps its place in the rotation. Lives outside the snapshot.
 */
export class Rotation {
  private readonly counters = new Map<string, number>();

  /** Returns this request's counter value and advances it. */
  next(key: string): number {
    const n = this.counters.get(key) ?? 0;
    this.counters.set(key, n >= Number.MAX_SAFE_INTEGER - 1 ? 0 : n + 1);
    return n;
  }

  /** Drops counters of rules that are gone. */
  prune(liveKeys: ReadonlySet<string>): void {
    for (const key of this.counters.keys()) if (!liveKeys.has(key)) this.counters.delete(key);
  }
}
