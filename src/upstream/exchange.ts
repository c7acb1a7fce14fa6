/**
 * One request/response exchange with an upstream over a pooled HTTP/1.1 connection.
 *
 * Why not fetch(): Bun's fetch always adds `Accept` and `User-Agent` when the client sent none
 * (they cannot be removed, oven-sh/bun#17012) and does not say whether a failed request ever
 * left the machine. A proxy must forward exactly what it was given and must know whether a retry
 * is safe (SPEC §6.1), so the wire is ours.
 *
 * The request body streams from the client to the upstream with backpressure (we await the
 * socket's drain); the response body streams back through a ReadableStream whose pull() resumes
 * the paused socket, so a slow client holds at most one high-water mark of data here.
 *
 * One exchange is one promise, from acquiring a connection to the response head: each extra
 * `await` hop costs microseconds per request inside Bun.serve (measured with bench/e2e.ts).
 */
import type { Watch, Watched } from "../state/watch.ts";
import { ConnectError, type Connection, type ConnectionUser, type Endpoint } from "./connection.ts";
import { ChunkedDecoder, chunk, framing, headEnd, keepAlive, LAST_CHUNK, MAX_HEAD_BYTES, parseHead, ProtocolError, type Framing } from "./http1.ts";
import type { UpstreamPool } from "./pool.ts";

/** A handle the caller keeps to cancel the exchange (the client went away). */
export interface ExchangeControl {
  exchange: { abort(): void } | null;
  /** Request body bytes read from the client, once the body has been sent (metrics); -1 before. */
  requestBytes: number;
}

/**
 * What the exchange tells its caller, as method calls on one object rather than a promise and
 * callbacks: no closures or promise reactions per request. Never called back from inside start().
 */
export interface ExchangeReceiver extends ExchangeControl {
  /** The response head arrived (SPEC §5.2 step 16); the body follows as it arrives. */
  onHead(response: InboundResponse): void;
  /** No response head: connection, timeout, protocol error, or the client's body failed. */
  onFail(error: UpstreamError): void;
  /** Called once when the response body has been relayed (or failed), with its size in bytes. */
  onBodyEnd(bytes: number, error: Error | null): void;
}

/** The upstream exchange as a seam (ARCHITECTURE §4): the request path is tested through a fake one. */
export interface Transport {
  start(endpoint: Endpoint, request: OutboundRequest, receiver: ExchangeReceiver): void;
}

/** The real transport: HTTP/1.1 over the pooled connections. */
export function poolTransport(pool: UpstreamPool): Transport {
  return { start: (endpoint, request, receiver) => void new Exchange(pool, endpoint, request, receiver) };
}

export interface OutboundRequest {
  readonly method: string;
  /** Origin-form request target: path and query. */
  readonly target: string;
  /** Header lines, each `name: value\r\n`, without Content-Length or Transfer-Encoding. */
  readonly headers: string;
  readonly body: ReadableStream<Uint8Array> | null;
  /** The client's declared Content-Length; null with a body means unknown length (sent chunked). */
  readonly bodyLength: number | null;
  /** Larger request bodies fail with kind `too_large` (SPEC §5.2 step 16). */
  readonly maxBodySize: number | null;
  /**
   * The client request's signal, for a chunked body: Bun ends the body at the last chunk and only
   * then refuses what follows (trailers) with its own 400, aborting this signal. The last chunk
   * waits one turn of the event loop so the upstream never executes a request the client was
   * refused (issue 20).
   */
  readonly clientSignal?: AbortSignal;
  /** limits.max_upstream_connections: beyond it the request waits for a connection. */
  readonly maxConnections?: number;
  /** Until the response head arrives (SPEC §5.10), checked on the watch's ticks. */
  readonly timeoutMs: number;
  readonly watch: Watch;
}

export interface InboundResponse {
  readonly status: number;
  readonly statusText: string;
  /** Header fields in order as name, value, name, value…: names lower-cased, hop-by-hop ones included (the caller strips them). */
  readonly headers: readonly string[];
  /** The Connection header's value (repeats joined), null when absent: it names more hop-by-hop headers. */
  readonly connection: string | null;
  /** A complete small body arrives as bytes; anything else streams. */
  readonly body: ReadableStream<Uint8Array> | Uint8Array | null;
  /** Whether the request went over a kept-alive connection. */
  readonly reused: boolean;
}

export type FailureKind = "connect" | "reset" | "timeout" | "protocol" | "too_large" | "aborted";

export class UpstreamError extends Error {
  override name = "UpstreamError";
  constructor(
    readonly kind: FailureKind,
    message: string,
    /** Whether any byte of the request was written: a retry is only safe when none was. */
    readonly written: boolean,
  ) {
    super(message);
  }

  /**
   * The client had not finished sending its body when this happened: a stalled upload ends in a
   * timeout that says nothing about the upstream (issue 20: five 1-byte bodies opened a breaker).
   */
  clientBodyPending = false;
  /** The request was still waiting for a connection under max_upstream_connections. */
  queued = false;

  /** Whether this failure is the upstream's, an outcome for its circuit breaker (SPEC §6.2). */
  get upstreamFault(): boolean {
    return this.kind !== "aborted" && this.kind !== "too_large" && !this.clientBodyPending && !this.queued;
  }
}

/**
 * Sends the request and resolves with the response head; the body follows as it arrives. The
 * promise form of the exchange, for callers off the request path (tests, tools).
 */
export function send(
  pool: UpstreamPool,
  endpoint: Endpoint,
  req: OutboundRequest,
  onBodyEnd?: (bytes: number, error: Error | null) => void,
): Promise<InboundResponse> {
  return new Promise((resolve, reject) => {
    new Exchange(pool, endpoint, req, { exchange: null, requestBytes: -1, onHead: resolve, onFail: reject, onBodyEnd: onBodyEnd ?? (() => {}) });
  });
}

const enum Phase {
  Connect,
  Head,
  Body,
  Done,
}

const BODY_HIGH_WATER = 64 * 1024;
/** The request head's pieces: method, target, header lines and framing go in the gaps. */
const HEAD_PARTS = ["", " ", "", " HTTP/1.1\r\n", "", "", "\r\n"];
const NON_ASCII = /[^\x00-\x7f]/;

class Exchange implements ConnectionUser, Watched {
  private phase = Phase.Connect;
  private conn: Connection | null = null;
  private reused = false;
  private retried = false;
  private head: Buffer | null = null;
  private framing: Framing = { kind: "none" };
  private remaining = 0;
  private decoder: ChunkedDecoder | null = null;
  private controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  private reusable = false;
  private requestDone: boolean;
  private written = false;
  /** Waiting in the pool for a connection (max_upstream_connections). */
  private waiting = false;
  /** Takes this exchange out of the pool's queue when it gives up while waiting. */
  private leaveQueue: (() => void) | null = null;
  /** The response head went to the caller; from here a failure cuts the body instead. */
  private answered = false;
  private paused = false;
  private bytes = 0;
  private readonly deadline: number;
  /** Inside the constructor: a failure is told a turn later, never from inside start(). */
  private starting = true;

  constructor(
    private readonly pool: UpstreamPool,
    private readonly endpoint: Endpoint,
    private readonly req: OutboundRequest,
    private readonly receiver: ExchangeReceiver,
  ) {
    this.deadline = performance.now() + req.timeoutMs;
    this.requestDone = req.body === null;
    receiver.exchange = this;
    req.watch.add(this);
    this.connect();
    this.starting = false;
  }

  /** The caller gave up (client disconnected). */
  abort(): void {
    this.fail(new UpstreamError("aborted", "client went away", this.written));
  }

  /** request_timeout: no response head by the deadline (SPEC §5.10). */
  tick(now: number): void {
    if (now < this.deadline) return;
    if (this.phase === Phase.Connect) {
      const err = new UpstreamError(
        "timeout",
        this.waiting
          ? "no upstream connection free before request_timeout (max_upstream_connections)"
          : "upstream did not accept the connection before request_timeout",
        false,
      );
      err.queued = this.waiting;
      this.fail(err);
    } else if (this.phase === Phase.Head) this.fail(new UpstreamError("timeout", "no response headers before request_timeout", this.written));
  }

  /** The pool has no connection free under max_upstream_connections: this exchange waits in its queue. */
  queued(leave: () => void): void {
    this.waiting = true;
    this.leaveQueue = leave;
  }

  private connect(): void {
    const acquired = this.pool.acquire(this.endpoint, this.req.maxConnections, this);
    if (!(acquired instanceof Promise)) return this.start(acquired);
    acquired.then(
      (conn) => this.start(conn),
      (err: Error) => this.fail(new UpstreamError("connect", err instanceof ConnectError ? err.message : `connect failed: ${err.message}`, false)),
    );
  }

  /** Writes the request head on the connection and starts streaming the body. */
  private start(conn: Connection): void {
    if (this.phase !== Phase.Connect) {
      // We gave up while it was connecting; the fresh connection is still good for others.
      this.pool.release(conn);
      return;
    }
    this.conn = conn;
    this.reused = conn.uses > 0;
    conn.uses++;
    conn.user = this;
    this.phase = Phase.Head;
    const req = this.req;
    const framingLine =
      req.body !== null
        ? req.bodyLength === null
          ? "transfer-encoding: chunked\r\n"
          : `content-length: ${req.bodyLength}\r\n`
        : req.bodyLength === 0 && methodExpectsBody(req.method)
          ? "content-length: 0\r\n"
          : "";
    // One join of a reused list: a chain of `+` allocates a string per step.
    const parts = HEAD_PARTS;
    parts[0] = req.method;
    parts[2] = req.target;
    parts[4] = req.headers;
    parts[5] = framingLine;
    const head = parts.join("");
    this.written = true;
    // Header values may carry obs-text (bytes 0x80-0xFF); only then does the head need latin1 bytes.
    conn.write(NON_ASCII.test(head) ? Buffer.from(head, "latin1") : head);
    if (req.body !== null) void this.pumpBody(req.body);
  }

  private async pumpBody(body: ReadableStream<Uint8Array>): Promise<void> {
    const chunked = this.req.bodyLength === null;
    const max = this.req.maxBodySize;
    const reader = body.getReader();
    let total = 0;
    try {
      for (;;) {
        if (this.over()) return void reader.cancel().catch(() => {});
        const { value, done } = await reader.read();
        if (done) break;
        if (this.over()) return void reader.cancel().catch(() => {});
        total += value.byteLength;
        if (max !== null && total > max) {
          reader.cancel().catch(() => {});
          return this.fail(new UpstreamError("too_large", `request body exceeds ${max} bytes`, true));
        }
        // Bytes past the announced length would be read by the upstream as the start of another
        // request (a desync): whatever the client side let through, they never leave here.
        if (!chunked && total > this.req.bodyLength!) {
          reader.cancel().catch(() => {});
          return this.fail(new UpstreamError("aborted", `client body longer than its Content-Length ${this.req.bodyLength}`, true));
        }
        if (value.byteLength === 0) continue;
        const conn = this.conn!;
        if (!conn.write(chunked ? chunk(value) : value)) await conn.drained();
      }
      if (chunked) {
        const signal = this.req.clientSignal;
        if (signal) await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.over()) return;
        if (signal?.aborted) return this.fail(new UpstreamError("aborted", "client request refused after its body (chunked trailers)", true));
        this.conn?.write(LAST_CHUNK);
      }
      this.receiver.requestBytes = total;
      if (this.req.bodyLength !== null && total !== this.req.bodyLength) {
        return this.fail(new UpstreamError("aborted", "client body ended before its Content-Length", true));
      }
      this.requestDone = true;
      this.maybeRelease();
    } catch (err) {
      this.fail(new UpstreamError("aborted", `client body failed: ${(err as Error).message}`, true));
    }
  }

  /** The exchange ended (answered or failed); a body still being sent is no longer wanted. */
  private over(): boolean {
    return this.phase === Phase.Done;
  }

  onData(data: Buffer): void {
    try {
      if (this.phase === Phase.Head) this.onHeadData(data);
      else if (this.phase === Phase.Body) this.onBodyData(data);
      else this.conn?.destroy();
    } catch (err) {
      this.fail(err instanceof ProtocolError ? new UpstreamError("protocol", `invalid response: ${err.message}`, true) : (err as UpstreamError));
    }
  }

  private onHeadData(data: Buffer): void {
    let buf = this.head ? Buffer.concat([this.head, data]) : data;
    for (;;) {
      const end = headEnd(buf);
      if (end < 0) {
        if (buf.length > MAX_HEAD_BYTES) throw new ProtocolError("response head larger than 64 KiB");
        this.head = buf;
        return;
      }
      const head = parseHead(buf, end);
      if (head.status >= 100 && head.status < 200) {
        if (head.status === 101) throw new ProtocolError("unexpected 101 Switching Protocols");
        buf = buf.subarray(end);
        continue; // 1xx interim responses are consumed here (RFC 9110 §15.2)
      }
      this.head = null;
      this.req.watch.delete(this);
      this.framing = framing(head, this.req.method);
      this.reusable = keepAlive(head, this.framing);
      this.phase = Phase.Body;
      const body = this.startBody(buf, end);
      this.answered = true;
      // The parsed head becomes the response: no second object.
      head.body = body;
      head.reused = this.reused;
      this.receiver.onHead(head);
      return;
    }
  }

  /**
   * Decides between a buffered body (complete in hand) and a stream, feeding what already arrived:
   * `data` from `start` on. A complete small body is one view of the packet (no copy, no second view).
   */
  private startBody(data: Buffer, start: number): Uint8Array | ReadableStream<Uint8Array> | null {
    const f = this.framing;
    const arrived = data.length - start;
    if (f.kind === "none") {
      if (arrived > 0) this.reusable = false;
      this.finish(null);
      return null;
    }
    if (f.kind === "length" && arrived >= f.length) {
      if (arrived > f.length) this.reusable = false; // more bytes than announced: never reuse
      const body = data.subarray(start, start + f.length);
      this.bytes = body.length;
      this.finish(null);
      return body;
    }
    const pieces: Uint8Array[] = [];
    if (f.kind === "length") this.remaining = f.length;
    if (f.kind === "chunked") this.decoder = new ChunkedDecoder();
    if (arrived > 0) this.consume(data.subarray(start), (d) => pieces.push(d));
    if (this.over()) return concat(pieces);
    return new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
          for (const p of pieces) controller.enqueue(p);
        },
        pull: () => {
          if (this.paused) {
            this.paused = false;
            this.conn?.resume();
          }
        },
        cancel: () => {
          // The client stopped reading (disconnect): drop the upstream connection.
          this.controller = null;
          this.finish(new Error("client cancelled the response"));
          this.conn?.destroy();
        },
      },
      { highWaterMark: BODY_HIGH_WATER, size: (c) => c?.byteLength ?? 0 },
    );
  }

  private onBodyData(data: Buffer): void {
    const controller = this.controller;
    this.consume(data, (d) => controller?.enqueue(d));
    if (controller && this.phase === Phase.Body && (controller.desiredSize ?? 1) <= 0 && !this.paused) {
      this.paused = true;
      this.conn?.pause();
    }
  }

  /** Feeds body bytes through the framing; ends the body when the framing says so. */
  private consume(data: Uint8Array, emit: (d: Uint8Array) => void): void {
    const f = this.framing;
    let used = data.length;
    if (f.kind === "close") {
      emit(data);
      this.bytes += data.length;
      return;
    }
    if (f.kind === "length") {
      const n = Math.min(this.remaining, data.length);
      if (n > 0) emit(data.subarray(0, n));
      this.bytes += n;
      this.remaining -= n;
      used = n;
      if (this.remaining > 0) return;
    } else if (this.decoder) {
      used = this.decoder.push(data, (d) => {
        this.bytes += d.length;
        emit(d);
      });
      if (!this.decoder.done) return;
    }
    if (used < data.length) this.reusable = false;
    this.finish(null);
  }

  onClose(error: Error | null): void {
    if (this.phase === Phase.Done) return;
    if (this.phase === Phase.Body && this.framing.kind === "close") return this.finish(null);
    if (this.phase === Phase.Head) {
      // A kept-alive connection the upstream closed just as we reused it fails before any
      // response byte; a request without a body is replayed once on a fresh connection.
      if (this.reused && this.head === null && this.req.body === null && !this.retried) {
        this.retried = true;
        this.conn = null;
        this.written = false;
        this.phase = Phase.Connect;
        return this.connect();
      }
      const why = error ? `${error.message}` : "upstream closed the connection before responding";
      return this.fail(new UpstreamError("reset", why, this.written));
    }
    this.fail(new UpstreamError("protocol", "upstream closed the connection mid-body", true));
  }

  /** The response is complete (error null) or cut. */
  private finish(error: Error | null): void {
    if (this.phase === Phase.Done) return;
    this.phase = Phase.Done;
    this.cleanup();
    const controller = this.controller;
    this.controller = null;
    if (controller) {
      // Erroring the stream makes Bun.serve cut the client's response (no final chunk, connection
      // closed), so the client can tell it is incomplete. Bun prints any error value it is given
      // with its stack to stderr, unstructured text in the middle of the JSON log; the error goes
      // to onBodyEnd (the endpoint log line) instead, and the stream gets no value.
      if (error) controller.error(undefined);
      else controller.close();
    }
    this.receiver.onBodyEnd(this.bytes, error);
    this.maybeRelease();
  }

  private maybeRelease(): void {
    const conn = this.conn;
    if (this.phase !== Phase.Done || !conn || !conn.open || conn.user !== this) return;
    if (this.requestDone && this.reusable) this.pool.release(conn);
    else {
      conn.user = null;
      conn.destroy();
    }
  }

  private fail(err: UpstreamError): void {
    if (this.phase === Phase.Done) return;
    this.reusable = false;
    // Broken framing in the first packet (a bad chunk line) fails before the head was handed
    // over: that is a 502, not a cut body, or the caller would wait for an answer forever.
    if (this.phase === Phase.Body && this.answered) {
      this.finish(err);
      this.conn?.destroy();
      return;
    }
    // Failing while the client's body is still arriving is no verdict on the upstream.
    if (this.phase === Phase.Head && !this.requestDone) err.clientBodyPending = true;
    this.phase = Phase.Done;
    this.cleanup();
    if (this.starting) queueMicrotask(() => this.receiver.onFail(err));
    else this.receiver.onFail(err);
    const conn = this.conn;
    if (conn) {
      conn.user = null;
      conn.destroy();
    }
  }

  private cleanup(): void {
    this.req.watch.delete(this);
    this.leaveQueue?.();
    this.leaveQueue = null;
    if (this.receiver.exchange === this) this.receiver.exchange = null;
  }
}

function methodExpectsBody(method: string): boolean {
  return method === "POST" || method === "PUT" || method === "PATCH";
}

function concat(pieces: Uint8Array[]): Uint8Array {
  if (pieces.length === 1) return pieces[0]!;
  return Buffer.concat(pieces);
}
