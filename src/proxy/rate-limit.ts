/**
 * Rate limiting at the door and per rule (SPEC §8): one token per request from the client's
 * bucket; an empty bucket is a 429 with Retry-After. Every response subject to a limiter carries
 * the RateLimit-* headers of the most restrictive bucket it passed.
 */
import type { RateLimitSpec } from "../config/snapshot.ts";
import { clientKey, type Buckets, type Limiter, type RateDecision } from "../state/limiter.ts";
import { plain } from "./errors.ts";

/**
 * Takes a token; returns the 429 to answer, or null. `note` keeps the tighter of two decisions.
 * With shared buckets (Redis, or the primary process) the verdict is a promise.
 */
export function rateLimit(
  limiter: Limiter,
  buckets: Buckets,
  spec: RateLimitSpec,
  clientIp: string,
  method: string,
  note: { rate: RateDecision | null },
): Response | null | Promise<Response | null> {
  const decision = limiter.take(buckets, clientKey(clientIp), spec);
  if (decision instanceof Promise) return decision.then((d) => verdict(d, method, note));
  return verdict(decision, method, note);
}

function verdict(decision: RateDecision, method: string, note: { rate: RateDecision | null }): Response | null {
  if (note.rate === null || decision.remaining < note.rate.remaining || !decision.allowed) note.rate = decision;
  if (decision.allowed) return null;
  return plain(429, method, "Rate limit exceeded", { "retry-after": String(decision.retryAfter), ...rateHeaders(decision) });
}

export function rateHeaders(d: RateDecision): Record<string, string> {
  return { "ratelimit-limit": String(d.limit), "ratelimit-remaining": String(d.remaining), "ratelimit-reset": String(d.reset) };
}

/** Sets the RateLimit-* headers on a response the door is about to send. */
export function addRateHeaders(response: Response, d: RateDecision): void {
  const h = response.headers;
  h.set("ratelimit-limit", String(d.limit));
  h.set("ratelimit-remaining", String(d.remaining));
  h.set("ratelimit-reset", String(d.reset));
}
