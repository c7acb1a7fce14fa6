/**
 * Successful authentications, remembered for a short time so a busy route does not pay bcrypt
 * (or a JWT signature check) on every request (SPEC §7.2). Failures are never stored. Keys are
 * digests or tokens, never passwords. Bounded: at the bound, expired entries go first, then the
 * oldest. Outlives reloads: Basic keys include the configured hashes and JWT entries are kept per
 * policy configuration, so a reload that changes users or keys starts from an empty cache.
 */

interface Entry<T> {
  value: T;
  /** performance.now() after which the entry is stale. */
  expires: number;
}

export class ExpiringCache<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string, now: number): T | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (now >= e.expires) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: T, expires: number, now: number): void {
    if (this.entries.size >= this.maxEntries && !this.entries.has(key)) this.makeRoom(now);
    this.entries.set(key, { value, expires });
  }

  private makeRoom(now: number): void {
    for (const [k, e] of this.entries) if (now >= e.expires) this.entries.delete(k);
    if (this.entries.size < this.maxEntries) return;
    let evict = Math.max(1, Math.floor(this.maxEntries / 10));
    for (const k of this.entries.keys()) {
      if (evict-- <= 0) break;
      this.entries.delete(k);
    }
  }
}

/** Basic verifications are trusted for 5 minutes (SPEC §7.2). */
export const BASIC_CACHE_MS = 5 * 60_000;
/** A verified JWT is trusted this long (never past its own exp). */
export const JWT_CACHE_MS = 60_000;
const MAX_ENTRIES = 10_000;

/** What a successful check adds upstream (the shape of the snapshot's AuthGrant). */
export interface CachedGrant {
  readonly headers: string;
  readonly drop: ReadonlySet<string> | null;
}

export class AuthCache {
  /** SHA-256(header + configured hashes) → the grant of the user it proved. */
  readonly basic = new ExpiringCache<CachedGrant>(MAX_ENTRIES);
  /** Basic verifications in progress, so concurrent requests with one header run bcrypt once. */
  readonly pending = new Map<string, Promise<CachedGrant | null>>();
  /** JWT policy cacheId + token → its grant. */
  readonly jwt = new ExpiringCache<CachedGrant>(MAX_ENTRIES);
  /** Failed attempts per client and verifications in progress (issue 20). */
  readonly throttle = new AuthThrottle();
}

/**
 * Failed-attempt throttle per client (issue 20: each wrong Basic password costs one bcrypt
 * verification, ~250 ms of a core at cost 12, so nine guesses a second took both cores). A token
 * bucket per client key: an uncached verification (or an API-key check) needs a token, taken
 * before any bcrypt runs and given back when the attempt succeeds, so only failures spend them.
 * An empty bucket is answered 429 with Retry-After. Separately, verifications in progress are
 * bounded per client (429: one client's burst cannot take every slot) and for the whole process
 * (503: beyond it the thread pool's queue would only grow and every login wait behind it).
 */
export const FAILED_AUTH_BURST = 10;
export const FAILED_AUTH_PER_SEC = 0.5;
const MAX_THROTTLED_CLIENTS = 50_000;

interface Bucket {
  tokens: number;
  at: number;
}

/** bcrypt verifications one client may have in progress: its burst cannot take every slot. */
export const VERIFYING_PER_CLIENT = 2;

export class AuthThrottle {
  private readonly buckets = new Map<string, Bucket>();
  /** bcrypt verifications running or queued for Bun's thread pool. */
  verifying = 0;
  private readonly verifyingBy = new Map<string, number>();

  constructor(
    readonly burst = FAILED_AUTH_BURST,
    readonly perSec = FAILED_AUTH_PER_SEC,
    /** Verifications allowed at once; the machine's cores each take a few. */
    readonly maxVerifying = Math.max(8, 4 * navigator.hardwareConcurrency),
  ) {}

  /** Takes one attempt for `key`: 0 when granted, else the whole seconds until one is (≥ 1). */
  take(key: string, now = performance.now()): number {
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= MAX_THROTTLED_CLIENTS) this.sweep(now);
      b = { tokens: this.burst, at: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSec);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.perSec));
  }

  /**
   * Counts a verification in for `key`: "client" when the client has VERIFYING_PER_CLIENT in
   * progress already, "busy" when the process has maxVerifying; null when it may run.
   */
  startVerify(key: string): "client" | "busy" | null {
    const mine = this.verifyingBy.get(key) ?? 0;
    if (mine >= VERIFYING_PER_CLIENT) return "client";
    if (this.verifying >= this.maxVerifying) return "busy";
    this.verifyingBy.set(key, mine + 1);
    this.verifying++;
    return null;
  }

  endVerify(key: string): void {
    this.verifying--;
    const mine = (this.verifyingBy.get(key) ?? 1) - 1;
    if (mine <= 0) this.verifyingBy.delete(key);
    else this.verifyingBy.set(key, mine);
  }

  /** The attempt succeeded: its token comes back. */
  refund(key: string): void {
    const b = this.buckets.get(key);
    if (b !== undefined) b.tokens = Math.min(this.burst, b.tokens + 1);
    if (b !== undefined && b.tokens >= this.burst) this.buckets.delete(key);
  }

  /** Drops buckets that are full again; if that is not enough, the oldest half. */
  private sweep(now: number): void {
    for (const [k, b] of this.buckets) if (b.tokens + ((now - b.at) / 1000) * this.perSec >= this.burst) this.buckets.delete(k);
    if (this.buckets.size < MAX_THROTTLED_CLIENTS) return;
    let n = this.buckets.size / 2;
    for (const k of this.buckets.keys()) {
      if (n-- <= 0) break;
      this.buckets.delete(k);
    }
  }
}
