/**
 * Circuit breakers (SPEC §6.2): one per upstream origin (`scheme://host:port`), shared by every
 * rule and kept across reloads for origins that stay. They are the passive health check of rule
 * backends: real traffic reports its outcome, nothing probes on its own.
 *
 *   closed ──failure_threshold consecutive failures──► open
 *   open ──recovery_timeout_secs later, first availability check──► half_open (gets the permit)
 *   half_open ──probe fails──► open (timer restarted)
 *   half_open ──probe succeeds──► new permit, or closed once success_threshold is reached
 *
 * Exactly one probe is in flight at a time: a grant in half_open hands out the permit as a ticket,
 * and only the outcome carrying that ticket moves the breaker. Outcomes of requests granted
 * earlier (while closed) are ignored once the breaker has left the closed state.
 */

import type { BreakerSettings } from "../config/snapshot.ts";

export type CircuitState = "closed" | "open" | "half_open";

/** What GET /api/v1/circuit-breaker shows per origin (SPEC §11.2). */
export interface BreakerView {
  state: CircuitState;
  consecutive_failures: number;
  consecutive_successes: number;
}

/** A refused grant. Ticket 0 is an ordinary grant (closed); a positive ticket is the probe permit. */
export const REFUSED = -1;

/** config.toml's defaults, until the first configure(). */
const DEFAULTS: BreakerSettings = {
  failureThreshold: 5,
  recoveryMs: 30_000,
  successThreshold: 2,
  failureStatusCodes: [502, 503, 504],
  permitTimeoutMs: 61_000,
};

class Breaker {
  state: CircuitState = "closed";
  failures = 0;
  successes = 0;
  openedAt = 0;
  /** Ticket of the probe in flight (half_open), 0 when the permit is free. */
  probe = 0;
  probeSince = 0;
  /** The probe's request had no body to wait for; one with a body may stall and settle nothing. */
  probeSettles = true;
}

export class Breakers {
  private readonly byOrigin = new Map<string, Breaker>();
  /** [circuit_breaker] as the snapshot compiled it (configure()). */
  private failureThreshold = DEFAULTS.failureThreshold;
  private recoveryMs = DEFAULTS.recoveryMs;
  private successThreshold = DEFAULTS.successThreshold;
  private failureCodes = codeTable(DEFAULTS.failureStatusCodes);
  /** A permit whose holder never reported is given out again after this long (a safety net). */
  private permitTimeoutMs = DEFAULTS.permitTimeoutMs;
  private nextTicket = 1;

  /** `now` in milliseconds; tests pass a clock they control. */
  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Settings for the next transitions (SPEC §13: [circuit_breaker] applies at the next transition). */
  configure(settings: BreakerSettings): void {
    this.failureThreshold = settings.failureThreshold;
    this.recoveryMs = settings.recoveryMs;
    this.successThreshold = settings.successThreshold;
    this.failureCodes = codeTable(settings.failureStatusCodes);
    this.permitTimeoutMs = settings.permitTimeoutMs;
  }

  /**
   * The availability check of SPEC §6.1 in the shape pickTarget() wants: a ticket (a grant whose
   * outcome must be reported or released) or REFUSED.
   */
  readonly grantFor = (target: { readonly origin: string }): number => this.grant(target.origin);

  /**
   * `grantFor` for a request whose body is still to come from the client. It may be the half_open
   * probe, but a request without a body takes the permit over from it: a client that stalls its
   * upload must not hold the permit until request_timeout (issue 20).
   */
  readonly grantForUpload = (target: { readonly origin: string }): number => this.grant(target.origin, false);

  /** Asks the origin's breaker for a request: a ticket, or REFUSED. `settles`: see grantForUpload. */
  grant(origin: string, settles = true): number {
    let b = this.byOrigin.get(origin);
    if (b === undefined) {
      b = new Breaker();
      this.byOrigin.set(origin, b);
    }
    if (b.state === "closed") return 0;
    const now = this.now();
    if (b.state === "open") {
      if (now - b.openedAt < this.recoveryMs) return REFUSED;
      b.state = "half_open";
      b.successes = 0;
      b.probe = 0;
    }
    if (b.probe !== 0 && now - b.probeSince < this.permitTimeoutMs && (b.probeSettles || !settles)) return REFUSED;
    b.probe = this.nextTicket++;
    b.probeSince = now;
    b.probeSettles = settles;
    return b.probe;
  }

  /** Whether an upstream status counts as a failure ([circuit_breaker] failure_status_codes). */
  isFailureStatus(status: number): boolean {
    return this.failureCodes[status] === 1;
  }

  /** The outcome of a granted request: a response head with `status` arrived. */
  reportStatus(origin: string, ticket: number, status: number): void {
    this.report(origin, ticket, this.failureCodes[status] !== 1);
  }

  /** The outcome of a granted request: success, or failure (transport error, timeout, failure status). */
  report(origin: string, ticket: number, ok: boolean): void {
    const b = this.byOrigin.get(origin);
    if (b === undefined) return;
    if (b.state === "closed") {
      if (ok) b.failures = 0;
      else if (++b.failures >= this.failureThreshold) this.open(b);
      return;
    }
    // open: outcomes of requests granted before it opened are ignored.
    // half_open: only the permit holder's outcome counts.
    if (b.state === "open" || ticket === 0 || ticket !== b.probe) return;
    b.probe = 0;
    if (!ok) {
      b.failures++;
      this.open(b);
      return;
    }
    if (++b.successes >= this.successThreshold) {
      b.state = "closed";
      b.failures = 0;
      b.successes = 0;
    }
  }

  /** Gives a grant back without an outcome (WebSocket upgrades, 413, a client that left). */
  release(origin: string, ticket: number): void {
    if (ticket === 0) return;
    const b = this.byOrigin.get(origin);
    if (b !== undefined && b.probe === ticket) b.probe = 0;
  }

  /** Every known origin's state, for the admin API. */
  snapshot(): Record<string, BreakerView> {
    const out: Record<string, BreakerView> = {};
    // An open breaker whose recovery time has passed still reads "open" until a request checks it.
    for (const [origin, b] of this.byOrigin) out[origin] = { state: b.state, consecutive_failures: b.failures, consecutive_successes: b.successes };
    return out;
  }

  /** POST /api/v1/circuit-breaker/reset: every breaker closed with zeroed counters. */
  resetAll(): void {
    this.byOrigin.clear();
  }

  /** A successful deploy resets the new slot's upstream (SPEC §6.2). */
  reset(origin: string): void {
    this.byOrigin.delete(origin);
  }

  /** Drops breakers of origins the new snapshot no longer names; the others keep their state. */
  prune(liveOrigins: ReadonlySet<string>): void {
    for (const origin of this.byOrigin.keys()) if (!liveOrigins.has(origin)) this.byOrigin.delete(origin);
  }

  private open(b: Breaker): void {
    b.state = "open";
    b.openedAt = this.now();
    b.successes = 0;
    b.probe = 0;
  }
}

/** status → 1 when it is a failure status; a flat table keeps the per-response check to one load. */
function codeTable(codes: readonly number[]): Uint8Array {
  const table = new Uint8Array(600);
  for (const c of codes) if (c >= 0 && c < 600) table[c] = 1;
  return table;
}
