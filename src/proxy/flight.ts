/**
 * One request, from the door to its log line (ARCHITECTURE §4). A Flight holds the facts fixed at
 * the door and the outcome the phases return; it is the one object a request allocates for its
 * own bookkeeping. Each outcome field has exactly one writer, named beside it, so a newcomer can
 * follow a request through handle.ts in one pass:
 *
 *   door (door.ts) → route → guard → pick → forward → respond → record (record.ts, always runs)
 *
 * It is also the upstream exchange's receiver (head, failure, body end arrive as method calls,
 * not promise reactions or closures), the coarse clock's entry for slow requests, and the client
 * signal's abort listener.
 */
import type { Server } from "bun";
import type { AuthGrant, Route, Snapshot, Upstream } from "../config/snapshot.ts";
import type { Logger } from "../lib/log.ts";
import { normalizeIp } from "../lib/net.ts";
import type { RateDecision } from "../state/limiter.ts";
import type { ProxyState } from "../state/proxy-state.ts";
import type { Watched } from "../state/watch.ts";
import type { ExchangeReceiver, InboundResponse, UpstreamError } from "../upstream/exchange.ts";
import { errorResponse, ProxyError } from "./errors.ts";
import { attempted, bodyEnded, failedAttempt } from "./forward.ts";
import { addRateHeaders } from "./rate-limit.ts";
import { record } from "./record.ts";

/** What every request of one listener shares; server/http.ts builds it once per listener. */
export interface Door {
  /** The configuration a new request pins (SPEC §13: a reload never changes a request in flight). */
  readonly current: () => Snapshot;
  readonly state: ProxyState;
  readonly log: () => Logger;
  /** Scheme of the listener. */
  readonly scheme: "http" | "https";
}

/** Requests still waiting on their upstream after this long get the slow-request treatment. */
const SLOW_AFTER_MS = 300;

export class Flight implements ExchangeReceiver, Watched, EventListenerObject {
  // ---- facts fixed at the door: the constructor, then door.ts admit() ----
  /** The configuration this request uses from start to finish. */
  readonly snapshot: Snapshot;
  readonly scheme: "http" | "https";
  readonly started = performance.now();
  /** TCP peer address (IPv4 plain). */
  readonly peer: string;
  /**
   * The client's header fields, read from Bun once (repeats joined with ", "): every
   * `req.headers.get()` is a call into native code, and the path reads host, content-length and
   * upgrade before copying all of them upstream.
   */
  readonly fields: Readonly<Record<string, string>>;
  /** Host header (or :authority) as sent, port included; "" for an HTTP/1.0 request without one. */
  readonly authority: string;
  /** Client address after the trusted-proxy walk (SPEC §5.5); admit(). */
  clientIp: string;
  /** Routed host: lower-case, no port, no brackets; admit(). */
  host = "";
  /** URL path (dot segments removed, percent-encoding kept), without the query; admit() normalises it. */
  path: string;
  /** Query without `?`, "" when none. */
  readonly query: string;

  // ---- the outcome, each field with one writer ----
  /** The matched rule; route.ts route(). */
  route: Route | null = null;
  /** Regex captures the targets substitute; route.ts route(). */
  groups: RegExpExecArray | null = null;
  /** Answered by the proxy itself (metrics, health, `OPTIONS *`); door.ts. */
  internal = false;
  /** The tightest rate-limit bucket the request passed (SPEC §8); rate-limit.ts verdict(). */
  rate: RateDecision | null = null;
  /** What authentication adds upstream and drops from the client's request; handle.ts granted(). */
  grant: AuthGrant | null = null;
  /** The target the request went to; forward.ts aim() (the retry included). */
  upstream: Upstream | null = null;
  /** The breaker ticket of that target's grant; forward.ts aim(). */
  ticket = 0;
  /** The response body streams: the record waits for its end; forward.ts attempted(). */
  streaming = false;
  /** The breaker's outcome waits for the end of the streamed body; forward.ts attempted(). */
  breakerAwaitsBody = false;
  /** Status sent to the client (101 for a WebSocket); the answer's methods below, settle() or tunnelAnswered(). */
  status = 0;
  /** What handling threw, when it did (the answer was generated from it); fail(). */
  error: unknown = null;
  /** Response body bytes relayed, -1 until known; onBodyEnd(). */
  bytes = -1;
  /** Why the relayed body ended early (client left, upstream cut it); onBodyEnd(). */
  bodyError: Error | null = null;

  // ---- ExchangeControl: the exchange in progress, and the request body size it counted ----
  exchange: { abort(): void } | null = null;
  requestBytes = -1;

  // ---- lifecycle ----
  /** clientKey() of a request counted in clientFlights, until it ends; door.ts. */
  clientKey: string | null = null;
  /** A retry is allowed (SPEC §6.1): the rotation counter and the index of the first pick; handle.ts proceed(). */
  retryCounter = -1;
  retrySkip = -1;
  private readonly serial: number;
  private idText: string | null = null;
  private watched = false;
  private slow = false;
  private upgraded = false;
  private waitingForBody = false;
  private recorded = false;
  private resolve: ((response: Response) => void) | null = null;
  /** The promise answer() made, so handle() can tell it from a phase's own promise. */
  promise: Promise<Response> | null = null;

  constructor(
    readonly req: Request,
    readonly door: Door,
    /** Bun's server, for its per-request idle timer and the WebSocket upgrade. */
    readonly server: Server<unknown>,
    peerAddress: string,
  ) {
    this.snapshot = door.current();
    this.scheme = door.scheme;
    this.serial = door.state.nextRequest();
    this.peer = normalizeIp(peerAddress);
    this.clientIp = this.peer;
    this.fields = req.headers.toJSON();
    this.authority = this.fields.host ?? "";
    const url = req.url;
    const start = targetStart(url);
    const hash = url.indexOf("#", start);
    const end = hash < 0 ? url.length : hash;
    const q = url.indexOf("?", start);
    if (start < 0) {
      this.path = "/";
      this.query = "";
    } else if (q < 0 || q > end) {
      this.path = url.slice(start, end);
      this.query = "";
    } else {
      this.path = url.slice(start, q);
      this.query = url.slice(q + 1, end);
    }
  }

  /** The request id of the log lines (SPEC §9), made on first use: most requests never log. */
  get id(): string {
    return (this.idText ??= this.door.state.requestId(this.serial));
  }

  get state(): ProxyState {
    return this.door.state;
  }

  /**
   * From here the request waits on an upstream: the coarse clock watches it, and a client that
   * leaves (a reset HTTP/2 stream) cancels the exchange at once (issue 20).
   */
  watch(): void {
    const signal = this.req.signal;
    if (signal.aborted) throw new ProxyError(499, "client", "client went away before the request was forwarded", { body: "" });
    this.door.state.watch.add(this);
    this.watched = true;
    signal.addEventListener("abort", this, ONCE);
  }

  /** The client's signal aborted. */
  handleEvent(): void {
    this.exchange?.abort();
  }

  /**
   * Slow requests (SPEC §5.10): most finish before the clock ever looks at them; the ones that do
   * not must not be cut by Bun's idle timer (request_timeout and streaming govern instead).
   */
  tick(now: number): void {
    if (this.slow || now - this.started < SLOW_AFTER_MS) return;
    this.slow = true;
    this.server.timeout(this.req, 0);
  }

  /** A promise of the answer that settle() resolves: one per proxied request, no reactions. */
  answer(): Promise<Response> {
    pending = this;
    this.promise = new Promise(capture);
    return this.promise;
  }

  // ---- ExchangeReceiver ----

  onHead(upstream: InboundResponse): void {
    let response: Response;
    try {
      const answer = attempted(this, upstream);
      // A body kept whole for its Content-Length (whole-body.ts) is read before the answer.
      if (answer instanceof Promise)
        return void answer.then(
          (r) => this.resolve!(this.settle(r)),
          (err) => this.resolve!(this.fail(err)),
        );
      response = this.settle(answer);
    } catch (err) {
      response = this.fail(err);
    }
    this.resolve!(response);
  }

  onFail(error: UpstreamError): void {
    let response: Response | null;
    try {
      response = failedAttempt(this, error);
    } catch (err) {
      response = this.fail(err);
    }
    // null: the request went on to another target (SPEC §6.1); that exchange answers.
    if (response !== null) this.resolve!(response);
  }

  onBodyEnd(bytes: number, error: Error | null): void {
    this.bytes = bytes;
    this.bodyError = error;
    bodyEnded(this, error);
    if (this.waitingForBody) this.finish();
  }

  // ---- the answer ----

  /** The answer is known: its status is recorded, now or when its body has been relayed. */
  settle(response: Response): Response {
    // A promise chain may hand over an answer the flight already settled (its own answer()).
    if (this.status !== 0) return response;
    this.door.state.inFlight--;
    this.status = response.status;
    if (this.rate !== null) addRateHeaders(response, this.rate);
    // A body read whole before the answer (whole-body.ts) has ended already, streamed or not.
    if (this.streaming && this.bytes < 0) this.waitingForBody = true;
    else {
      if (this.bytes < 0) this.bytes = this.req.method === "HEAD" ? 0 : generatedLength(response);
      this.finish();
    }
    return response;
  }

  /** Handling threw: the answer is generated from the error (SPEC §5.9). */
  fail(err: unknown): Response {
    this.error = err;
    return this.settle(errorResponse(err, this.req.method, this, this.door.log()));
  }

  /**
   * server/ws.ts answered a WebSocket upgrade: undefined once the client got its 101 (the record
   * then completes when the tunnel ends, SPEC §10), else the error answer.
   */
  tunnelAnswered(response: Response | undefined): Response | undefined {
    if (response !== undefined) return this.settle(response);
    this.door.state.inFlight--;
    this.status = 101;
    this.upgraded = true;
    // A tunnel is a connection, not a request in flight; Bun's HTTP timers no longer apply.
    this.leaveClient();
    this.unwatch();
    this.waitingForBody = true;
    return undefined;
  }

  /** The request is over: counters released, the record phase run, exactly once. */
  private finish(): void {
    if (this.recorded) return;
    this.recorded = true;
    this.leaveClient();
    this.unwatch();
    if (this.slow && !this.upgraded) this.server.timeout(this.req, this.snapshot.limits.keepAliveTimeoutSecs);
    record(this, this.upgraded);
  }

  private leaveClient(): void {
    if (this.clientKey === null) return;
    this.door.state.clientFlights.leave(this.clientKey);
    this.clientKey = null;
  }

  private unwatch(): void {
    if (!this.watched) return;
    this.watched = false;
    this.door.state.watch.delete(this);
  }

  /** Used by answer()'s executor. */
  setResolve(resolve: (response: Response) => void): void {
    this.resolve = resolve;
  }
}

const ONCE: AddEventListenerOptions = { once: true };

/** answer() hands its flight to the executor through here: one shared executor, no closure. */
let pending: Flight | null = null;
function capture(resolve: (response: Response) => void): void {
  pending!.setResolve(resolve);
  pending = null;
}

/**
 * Where the path starts in the request URL; Bun gives an absolute URL with dot segments removed.
 * A fragment is no part of a request target (RFC 9112 §3.2) but Bun keeps one: the constructor
 * drops it, so the path the rules match is the path the upstream gets (a backend resolving
 * `/public#/../admin` itself would otherwise serve another path than the one that was routed).
 */
function targetStart(url: string): number {
  if (url.charCodeAt(0) === 47 /* / */) return 0;
  const scheme = url.indexOf("://");
  return scheme < 0 ? 0 : url.indexOf("/", scheme + 3);
}

/** Body size of a response the proxy generated itself (they all carry Content-Length). */
function generatedLength(res: Response): number {
  const length = res.headers.get("content-length");
  return length === null ? 0 : Number(length);
}
