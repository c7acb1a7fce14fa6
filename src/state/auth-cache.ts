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
}
