/**
 * Rate limiting at the door and per rule (SPEC §8): one token per request from the client's
 * bucket; an empty bucket is a 429 with Retry-After. Every response subject to a limiter carries
 * the RateLimit-* headers of the most restrictive bucket it passed.
 */
import type { RateLimitSpec } from "../config/snapshot.ts";
import { clientKey, type Buckets, type RateDecision } from "../state/limiter.ts";
import { plain } from "./errors.ts";
import type { Flight } from "./flight.ts";

/**
 * Takes a token from the client's bucket; returns the 429 to answer, or null. The flight keeps the
 * tighter of two decisions (the global and the rule's). With shared buckets (Redis, or the primary
 * process) the verdict is a promise.
 */
export function rateLimit(flight: Flight, buckets: Buckets, spec: RateLimitSpec): Response | null | Promise<Response | null> {
  const limiter = flight.state.limiter;
  const decision = limiter.take(buckets, clientKey(flight.clientIp), spec);
  if (decision instanceof Promise) return decision.then((d) => verdict(d, flight));
  return verdict(decision, flight);
}

function verdict(decision: RateDecision, flight: Flight): Response | null {
  const rate = flight.rate;
  if (rate === null || decision.remaining < rate.remaining || !decision.allowed) flight.rate = decision;
  if (decision.allowed) return null;
  return plain(429, flight.req.method, "Rate limit exceeded", { "retry-after": String(decision.retryAfter), ...rateHeaders(decision) });
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
