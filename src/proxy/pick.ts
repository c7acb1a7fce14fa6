/**
 * Phase 3: which target of the rule gets the request (SPEC §6.1). `grant` asks the target's
 * circuit breaker for a ticket; a target it refuses (a negative answer) is skipped.
 */
import type { Route, Upstream } from "../config/snapshot.ts";

/** A breaker's answer for one target: a ticket (0 closed, > 0 the half_open probe) or negative. */
export type Grant = (target: Upstream) => number;

/** The chosen target and the breaker ticket its outcome is reported with. */
export interface Picked {
  readonly index: number;
  readonly ticket: number;
}

/** The chosen target, or null when none is available. `skip` excludes one (a retry). */
export function pickTarget(route: Route, counter: number, grant: Grant, skip = -1): Picked | null {
  const targets = route.targets;
  const n = targets.length;
  if (n === 1) return skip === 0 ? null : granted(0, grant(targets[0]!));

  if (route.strategy === "weighted" && route.weighted) {
    const { slots, stride } = route.weighted;
    const total = slots.length;
    const p = ((counter % total) * stride) % total;
    for (let step = 0; step < total; step++) {
      const i = slots[(p + step) % total]!;
      const picked = i === skip ? null : granted(i, grant(targets[i]!));
      if (picked) return picked;
    }
    // Every positive-weight target is out: fall back to the drained (weight 0) ones in order.
    for (let i = 0; i < n; i++) {
      const picked = targets[i]!.weight !== 0 || i === skip ? null : granted(i, grant(targets[i]!));
      if (picked) return picked;
    }
    return null;
  }

  if (route.strategy === "round-robin") {
    const start = counter % n;
    for (let step = 0; step < n; step++) {
      const i = (start + step) % n;
      const picked = i === skip ? null : granted(i, grant(targets[i]!));
      if (picked) return picked;
    }
    return null;
  }

  // failover, and weighted with every weight 0
  for (let i = 0; i < n; i++) {
    const picked = i === skip ? null : granted(i, grant(targets[i]!));
    if (picked) return picked;
  }
  return null;
}

/** Tickets 0 (a closed breaker, nearly every request) share one answer per index. */
const CLOSED: Picked[] = Array.from({ length: 64 }, (_, index) => Object.freeze({ index, ticket: 0 }));

function granted(index: number, ticket: number): Picked | null {
  if (ticket < 0) return null;
  return ticket === 0 && index < CLOSED.length ? CLOSED[index]! : { index, ticket };
}
