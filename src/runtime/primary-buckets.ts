/**
 * The machine-wide memory rate limit with several workers (SPEC §4 `rate_limiting.backend`, §15.1):
 * the buckets live in the primary process only, and each worker asks it for every token over the
 * IPC channel it already has. Why not per-worker buckets: a client whose connections land on N
 * workers (reusePort spreads them) would get N times the rate; splitting the rate N ways is wrong
 * the other way for a client that lands on one. One owner is exact, needs no shared memory, and
 * costs a share of one IPC round trip per request (bench/rate-limit.ts measures it). If the primary does not
 * answer in time the worker's own buckets decide, so a request is never held for long.
 */
import { decision, type Limiter, type RateDecision, type RateLimitSpec, type SharedBuckets } from "../state/limiter.ts";

/** Token requests, worker → primary, batched per event-loop turn: [id, scope, client key, per second, burst]. */
export interface RateAsk {
  type: "rate?";
  asks: [number, string, string, number, number][];
}

/** The primary's answers, batched likewise: [id, allowed, tokens left]; the worker derives the headers. */
export interface RateAnswer {
  type: "rate";
  answers: [number, boolean, number][];
}

const ANSWER_TIMEOUT_MS = 500;

interface Waiting {
  spec: RateLimitSpec;
  resolve: (d: RateDecision) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * The worker side: every take is a question to the primary. Questions asked in the same turn of
 * the event loop go as one IPC message (under load many requests arrive per turn), which is what
 * keeps the per-request cost down: a message costs far more than an entry in it.
 */
export class PrimaryBuckets implements SharedBuckets {
  private nextId = 0;
  private readonly waiting = new Map<number, Waiting>();
  private batch: RateAsk["asks"] = [];

  constructor(private readonly send: (message: RateAsk) => boolean) {}

  take(scope: string, clientKey: string, spec: RateLimitSpec): Promise<RateDecision> | null {
    const id = ++this.nextId;
    if (this.batch.length === 0) queueMicrotask(this.flush);
    this.batch.push([id, scope, clientKey, spec.perSecond, spec.burst]);
    return new Promise<RateDecision>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error("the primary did not answer the rate-limit question"));
      }, ANSWER_TIMEOUT_MS);
      this.waiting.set(id, { spec, resolve, reject, timer });
    });
  }

  answered(message: RateAnswer): void {
    for (const [id, allowed, tokens] of message.answers) {
      const w = this.waiting.get(id);
      if (w === undefined) continue;
      this.waiting.delete(id);
      clearTimeout(w.timer);
      w.resolve(decision(allowed, tokens, w.spec));
    }
  }

  private readonly flush = (): void => {
    const asks = this.batch;
    this.batch = [];
    if (this.send({ type: "rate?", asks })) return;
    // No primary to ask: the local buckets decide at once.
    for (const [id] of asks) {
      const w = this.waiting.get(id);
      if (w === undefined) continue;
      this.waiting.delete(id);
      clearTimeout(w.timer);
      w.reject(new Error("no primary"));
    }
  };
}

/** The primary side: answers from its own limiter (memory, or Redis in cluster mode), batched back. */
export function answerRate(limiter: Limiter, message: RateAsk, reply: (answer: RateAnswer) => void): void {
  if (!Array.isArray(message.asks)) return;
  const answers: RateAnswer["answers"] = [];
  let pending = 0;
  let sent = false;
  const done = () => {
    if (pending === 0 && !sent) {
      sent = true;
      reply({ type: "rate", answers });
    }
  };
  for (const ask of message.asks.slice(0, 10_000)) {
    const [id, scope, clientKey, perSecond, burst] = ask;
    if (typeof scope !== "string" || typeof clientKey !== "string" || !(perSecond > 0) || !(burst >= 1)) continue;
    const buckets = scope === "" ? limiter.global : limiter.rule(scope);
    const d = limiter.take(buckets, clientKey, { perSecond, burst });
    if (d instanceof Promise) {
      pending++;
      void d
        .then(
          (x) => answers.push([id, x.allowed, x.tokens]),
          () => undefined,
        )
        .finally(() => {
          pending--;
          done();
        });
    } else answers.push([id, d.allowed, d.tokens]);
  }
  done();
}
