/**
 * Rate-limit buckets in Redis (SPEC §8, §17.3): one Lua script per request refills and takes a
 * token atomically on the server, so two nodes never read-modify-write the same bucket. The clock is
 * Redis' own (TIME), so nodes with skewed clocks share one bucket correctly. A bucket expires once
 * it would be full again (a full bucket is the same as none, SPEC §8).
 *
 * Keys: `<cluster>:rl:<client>` for the global limit, `<cluster>:rl:r:<rule hash>:<client>` per rule.
 */
import { createHash } from "node:crypto";
import { decision, GLOBAL_SCOPE, type RateDecision, type RateLimitSpec, type SharedBuckets } from "../state/limiter.ts";
import type { RedisLink } from "./redis.ts";

export const TAKE_SCRIPT = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local v = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(v[1])
local at = tonumber(v[2])
if tokens == nil or at == nil or tokens ~= tokens then tokens = burst; at = now end
local elapsed = now - at
if elapsed > 0 then tokens = math.min(burst, tokens + elapsed / 1000 * rate) elseif tokens > burst then tokens = burst end
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
`;

const TAKE_SHA = createHash("sha1").update(TAKE_SCRIPT).digest("hex");

export class RedisBuckets implements SharedBuckets {
  /** Rule matcher text → its key prefix; hashed so a rule's text never ends up in a key. */
  private readonly prefixes = new Map<string, string>();

  constructor(
    private readonly redis: RedisLink,
    private readonly cluster: string,
  ) {}

  take(scope: string, clientKey: string, spec: RateLimitSpec): Promise<RateDecision> | null {
    if (!this.redis.up) return null;
    const key = this.prefix(scope) + clientKey;
    const args = [String(spec.perSecond), String(spec.burst)];
    return this.redis
      .send("EVALSHA", [TAKE_SHA, "1", key, ...args])
      .catch((err: Error) => {
        // The script cache is empty after a Redis restart: send the script once, it is cached again.
        if (!String(err.message).includes("NOSCRIPT")) throw err;
        return this.redis.send("EVAL", [TAKE_SCRIPT, "1", key, ...args]);
      })
      .then((reply) => fromReply(reply, spec));
  }

  private prefix(scope: string): string {
    let p = this.prefixes.get(scope);
    if (p === undefined) {
      p = scope === GLOBAL_SCOPE ? `${this.cluster}:rl:` : `${this.cluster}:rl:r:${createHash("sha256").update(scope).digest("hex").slice(0, 16)}:`;
      if (this.prefixes.size > 10_000) this.prefixes.clear();
      this.prefixes.set(scope, p);
    }
    return p;
  }
}

/** The script's answer, checked like any input: anything else is an error (the local bucket decides). */
export function fromReply(reply: unknown, spec: RateLimitSpec): RateDecision {
  if (!Array.isArray(reply) || reply.length !== 2) throw new Error("unexpected rate-limit reply from redis");
  const [allowed, tokensText] = reply as [unknown, unknown];
  const tokens = Number(tokensText);
  if ((allowed !== 0 && allowed !== 1) || !Number.isFinite(tokens) || tokens < 0 || tokens > spec.burst) {
    throw new Error("unexpected rate-limit reply from redis");
  }
  return decision(allowed === 1, tokens, spec);
}
