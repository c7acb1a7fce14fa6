/**
 * Phase 3: which target of the rule gets the request (SPEC §6.1). `available` asks the target's
 * circuit breaker; a target it refuses is skipped.
 */
import type { Route, Upstream } from "../config/snapshot.ts";

export type Available = (target: Upstream) => boolean;

/** Index of the chosen target, or -1 when none is available. `skip` excludes one (a retry). */
export function pickTarget(route: Route, counter: number, available: Available, skip = -1): number {
  const targets = route.targets;
  const n = targets.length;
  const ok = (i: number) => i !== skip && available(targets[i]!);
  if (n === 1) return ok(0) ? 0 : -1;

  if (route.strategy === "weighted" && route.weighted) {
    const { slots, stride } = route.weighted;
    const total = slots.length;
    const p = ((counter % total) * stride) % total;
    for (let step = 0; step < total; step++) {
      const i = slots[(p + step) % total]!;
      if (ok(i)) return i;
    }
    // Every positive-weight target is out: fall back to the drained (weight 0) ones in order.
    for (let i = 0; i < n; i++) if (targets[i]!.weight === 0 && ok(i)) return i;
    return -1;
  }

  if (route.strategy === "round-robin") {
    const start = counter % n;
    for (let step = 0; step < n; step++) {
      const i = (start + step) % n;
      if (ok(i)) return i;
    }
    return -1;
  }

  // failover, and weighted with every weight 0
  for (let i = 0; i < n; i++) if (ok(i)) return i;
  return -1;
}
