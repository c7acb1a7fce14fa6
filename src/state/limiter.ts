/**
 * Token buckets per client (SPEC §8), in memory. One `Buckets` per scope: the global limit and
 * each rule with a `rate_limit:` option. Rates come from the snapshot on every call, so a reload
 * that changes a limit keeps the clients' current token counts.
 *
 * Memory is bounded twice: every 60 s the buckets that are full again are dropped (a full bucket
 * is the same as no bucket), and a scope never holds more than `maxKeys` buckets: at the bound a
 * sweep runs first, and if every bucket is still in use the oldest ones are evicted (their clients
 * start again with a full bucket). With the default 100 000 keys a scope holds at most about
 * 10 MB, whatever the number of distinct addresses that hit it.
 *
 * A `SharedBuckets` can stand in for the local buckets (SPEC §17.3, §15.1): Redis for a cluster, or
 * the primary process for a machine with several workers. Whenever it cannot answer, the local
 * buckets decide, so a request is never refused or held for the sake of shared state (SPEC §17.6).
 */
import type { RateLimitSpec } from "../config/snapshot.ts";

// Declared once, with the snapshot that carries it; re-exported for the bucket stores.
export type { RateLimitSpec };
import { ipBytes } from "../lib/net.ts";

/** The outcome of one take, in the numbers the response headers need (SPEC §8). */
export interface RateDecision {
  readonly allowed: boolean;
  /** RateLimit-Limit. */
  readonly limit: number;
  /** RateLimit-Remaining: whole tokens left. */
  readonly remaining: number;
  /** RateLimit-Reset: whole seconds until the bucket is full. */
  readonly reset: number;
  /** Retry-After for a refusal: whole seconds until a token is available, at least 1. */
  readonly retryAfter: number;
  /** Tokens left, with the fraction (what a worker gets back from the primary's bucket). */
  readonly tokens: number;
}

interface Bucket {
  tokens: number;
  /** performance.now() of the last refill. */
  at: number;
}

export const DEFAULT_MAX_KEYS = 100_000;
const SWEEP_EVERY_MS = 60_000;

/**
 * Buckets kept elsewhere and shared (Redis, or the primary process). `take` returns null when the
 * shared store is known to be unreachable right now; a rejected promise means the same.
 */
export interface SharedBuckets {
  take(scope: string, clientKey: string, spec: RateLimitSpec): Promise<RateDecision> | null;
}

/** The scope name of the global buckets; a rule's scope is its matcher text. */
export const GLOBAL_SCOPE = "";

export class Buckets {
  private readonly buckets = new Map<string, Bucket>();
  /** Last spec seen, for sweeping with the right refill rate. */
  private spec: RateLimitSpec = { perSecond: 1, burst: 1 };

  constructor(
    readonly maxKeys = DEFAULT_MAX_KEYS,
    /** GLOBAL_SCOPE or the rule's matcher text: how shared buckets name this scope. */
    readonly scope = GLOBAL_SCOPE,
  ) {}

  get size(): number {
    return this.buckets.size;
  }

  /** Takes one token for `key`; `now` is performance.now(). */
  take(key: string, spec: RateLimitSpec, now: number): RateDecision {
    this.spec = spec;
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxKeys) this.makeRoom(now);
      bucket = { tokens: spec.burst, at: now };
      this.buckets.set(key, bucket);
    } else {
      refill(bucket, spec, now);
    }
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    return decision(allowed, bucket.tokens, spec);
  }

  /** Drops every bucket that is full again (SPEC §8); returns how many were dropped. */
  sweep(now: number): number {
    let dropped = 0;
    for (const [key, bucket] of this.buckets) {
      refill(bucket, this.spec, now);
      if (bucket.tokens >= this.spec.burst) {
        this.buckets.delete(key);
        dropped++;
      }
    }
    return dropped;
  }

  private makeRoom(now: number): void {
    if (this.sweep(now) > 0 && this.buckets.size < this.maxKeys) return;
    // Still full: evict the oldest tenth (Map iteration is insertion order).
    let evict = Math.max(1, Math.floor(this.maxKeys / 10));
    for (const key of this.buckets.keys()) {
      if (evict-- <= 0) break;
      this.buckets.delete(key);
    }
  }
}

/** The numbers of SPEC §8 for a bucket left with `tokens` after a take. */
export function decision(allowed: boolean, tokens: number, spec: RateLimitSpec): RateDecision {
  return {
    allowed,
    limit: spec.burst,
    remaining: Math.floor(tokens),
    reset: Math.ceil((spec.burst - tokens) / spec.perSecond),
    retryAfter: allowed ? 0 : Math.max(1, Math.ceil((1 - tokens) / spec.perSecond)),
    tokens,
  };
}

function refill(bucket: Bucket, spec: RateLimitSpec, now: number): void {
  const elapsed = now - bucket.at;
  if (elapsed > 0) {
    bucket.tokens = Math.min(spec.burst, bucket.tokens + (elapsed / 1000) * spec.perSecond);
    bucket.at = now;
  } else if (bucket.tokens > spec.burst) {
    bucket.tokens = spec.burst; // the burst was lowered by a reload
  }
}

/** Every scope's buckets: the global one and one per rate-limited rule (keyed by matcher text). */
export class Limiter {
  readonly global: Buckets;
  private readonly rules = new Map<string, Buckets>();
  private timer: ReturnType<typeof setInterval> | null = null;
  /** Set in cluster mode (Redis) and in worker processes (the primary's buckets); null ⇒ local only. */
  shared: SharedBuckets | null = null;

  constructor(readonly maxKeys = DEFAULT_MAX_KEYS) {
    this.global = new Buckets(maxKeys);
  }

  /** The rule's buckets, created on first use. */
  rule(key: string): Buckets {
    let b = this.rules.get(key);
    if (b === undefined) this.rules.set(key, (b = new Buckets(this.maxKeys, key)));
    this.startSweeping();
    return b;
  }

  /**
   * Takes one token: from the shared buckets when there are any (a promise), else, or when they
   * cannot answer, from this process's own (at once).
   */
  take(buckets: Buckets, clientKey: string, spec: RateLimitSpec): RateDecision | Promise<RateDecision> {
    const shared = this.shared?.take(buckets.scope, clientKey, spec);
    if (shared) return shared.catch(() => this.takeLocal(buckets, clientKey, spec));
    return this.takeLocal(buckets, clientKey, spec);
  }

  /** This process's own buckets only. */
  takeLocal(buckets: Buckets, clientKey: string, spec: RateLimitSpec): RateDecision {
    this.startSweeping();
    return buckets.take(clientKey, spec, performance.now());
  }

  sweep(now = performance.now()): void {
    this.global.sweep(now);
    for (const b of this.rules.values()) b.sweep(now);
  }

  /** Forgets the buckets of rules the new snapshot no longer rate-limits. */
  prune(liveRuleKeys: ReadonlySet<string>): void {
    for (const key of this.rules.keys()) if (!liveRuleKeys.has(key)) this.rules.delete(key);
  }

  private startSweeping(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.sweep(), SWEEP_EVERY_MS);
    // The sweep alone must not keep the process alive.
    (this.timer as { unref?: () => void }).unref?.();
  }
}

/** The bucket key of a client address: IPv4 as is, IPv6 grouped by its /64 (SPEC §8). */
export function clientKey(ip: string): string {
  if (!ip.includes(":")) return ip;
  const bytes = ipBytes(ip);
  if (bytes === null || bytes.length !== 16) return ip;
  let key = "";
  for (let i = 0; i < 8; i += 2) key += ((bytes[i]! << 8) | bytes[i + 1]!).toString(16) + ":";
  return key + ":/64";
}
