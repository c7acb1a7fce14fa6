/**
 * The machine-wide memory rate limit with several workers (SPEC §4 `rate_limiting.backend`, §15.1):
 * the buckets live in the primary process only, and each worker asks it for every token over the
 * IPC channel it already has. Why not per-worker buckets: a client whose connections land on N
 * workers (reusePort spreads them) would get N times the rate; splitting the rate N ways is wrong
 * the other way for a client that lands on one. One owner is exact, needs no shared memory, and
 * costs one IPC round trip per request (bench/rate-limit.ts measures it). If the primary does not
 * answer in time the worker's own buckets decide, so a request is never held for long.
 */
import { decision, type RateDecision, type RateLimitSpec, type SharedBuckets } from "../state/limiter.ts";
import type { Limiter } from "../state/limiter.ts";

/** A token request, worker → primary; kept as a tuple so the message is small. */
export interface RateAsk {
  type: "rate?";
  id: number;
  /** [scope, client key, per second, burst] */
  ask: [string, string, number, number];
}

/** The primary's answer: [allowed, tokens left]; the worker derives the headers from it. */
export interface RateAnswer {
  type: "rate";
  id: number;
  answer: [boolean, number];
}

const ANSWER_TIMEOUT_MS = 500;

/** The worker side: every take is a question to the primary. */
export class PrimaryBuckets implements SharedBuckets {
  private nextId = 0;
  private readonly waiting = new Map<number, { spec: RateLimitSpec; resolve: (d: RateDecision) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> }>();

  constructor(private readonly ask: (message: RateAsk) => boolean) {}

  take(scope: string, clientKey: string, spec: RateLimitSpec): Promise<RateDecision> | null {
    const id = ++this.nextId;
    if (!this.ask({ type: "rate?", id, ask: [scope, clientKey, spec.perSecond, spec.burst] })) return null;
    return new Promise<RateDecision>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error("the primary did not answer the rate-limit question"));
      }, ANSWER_TIMEOUT_MS);
      this.waiting.set(id, { spec, resolve, reject, timer });
    });
  }

  answered(message: RateAnswer): void {
    const w = this.waiting.get(message.id);
    if (w === undefined) return;
    this.waiting.delete(message.id);
    clearTimeout(w.timer);
    w.resolve(decision(message.answer[0], message.answer[1], w.spec));
  }
}

/** The primary side: answers from its own limiter (memory, or Redis in cluster mode). */
export function answerRate(limiter: Limiter, message: RateAsk, reply: (answer: RateAnswer) => void): void {
  const [scope, clientKey, perSecond, burst] = message.ask;
  if (typeof scope !== "string" || typeof clientKey !== "string" || !(perSecond > 0) || !(burst >= 1)) return;
  const buckets = scope === "" ? limiter.global : limiter.rule(scope);
  const spec = { perSecond, burst };
  const d = limiter.take(buckets, clientKey, spec);
  const send = (x: RateDecision) => reply({ type: "rate", id: message.id, answer: [x.allowed, x.tokens] });
  if (d instanceof Promise) void d.then(send, () => undefined);
  else send(d);
}
