/**
 * One request/response exchange with an upstream over a pooled HTTP/1.1 connection.
 *
 * Why not fetch(): Bun's fetch always adds `Accept` and `User-Agent` when the client sent none
 * (they cannot be removed, oven-sh/bun#17012), rewrites framing, and does not say whether a
 * failed request ever left the machine. A proxy must forward exactly what it was given and must
 * know whether a retry is safe (SPEC §6.1), so the wire is ours.
 *
 * The request body streams from the client to the upstream with backpressure (we await the
 * socket's drain); the response body streams back through a ReadableStream whose pull() resumes
 * the paused socket, so a slow client holds at most one high-water mark of data here.
 */
import { ConnectError, type Connection, type ConnectionUser, type Endpoint } from "./connection.ts";
import { ChunkedDecoder, chunk, framing, headEnd, keepAlive, LAST_CHUNK, MAX_HEAD_BYTES, parseHead, ProtocolError, type Framing } from "./http1.ts";
import type { UpstreamPool } from "./pool.ts";

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
  /** Aborts the exchange (client went away). */
  readonly signal: AbortSignal | null;
  /** Until the response head arrives (SPEC §5.10). */
  readonly timeoutMs: number;
  /** Called once when the response body has been relayed (or failed), with its size in bytes. */
  readonly onBodyEnd?: (bytes: number, error: Error | null) => void;
}

export interface InboundResponse {
  readonly status: number;
  readonly statusText: string;
  /** Header fields in order, names lower-cased, hop-by-hop ones included (the caller strips them). */
  readonly headers: readonly [string, string][];
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
}

/** Sends the request and resolves with the response head; the body follows as it arrives. */
export async function send(pool: UpstreamPool, endpoint: Endpoint, req: OutboundRequest): Promise<InboundResponse> {
  const deadline = performance.now() + req.timeoutMs;
  // A kept-alive connection the upstream closed just as we reused it fails before any response
  // byte; a request without a body is then replayed once on a fresh connection.
  for (let attempt = 0; ; attempt++) {
    let conn: Connection;
    try {
      const acquired = pool.acquire(endpoint);
      conn = acquired instanceof Promise ? await withDeadline(acquired, deadline, req.signal) : acquired;
    } catch (err) {
      if (err instanceof UpstreamError) throw err;
      throw new UpstreamError("connect", (err as Error).message, false);
    }
    const reused = conn.uses > 0;
    conn.uses++;
    try {
      return await new Exchange(pool, conn, req, reused, deadline).run();
    } catch (err) {
      const stale = err instanceof UpstreamError && err.kind === "reset" && reused && req.body === null;
      if (!stale || attempt > 0) throw err;
    }
  }
}

function withDeadline(p: Promise<Connection>, deadline: number, signal: AbortSignal | null): Promise<Connection> {
  return new Promise<Connection>((resolve, reject) => {
    const fail = (err: UpstreamError) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      reject(err);
      // A connection that opens after we gave up is closed at once.
      p.then((c) => c.destroy(), () => {});
    };
    const onAbort = () => fail(new UpstreamError("aborted", "client went away", false));
    const timer = setTimeout(() => fail(new UpstreamError("timeout", "upstream did not accept the connection in time", false)), Math.max(0, deadline - performance.now()));
    signal?.addEventListener("abort", onAbort, { once: true });
    p.then(
      (c) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        resolve(c);
      },
      (e: Error) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        reject(new UpstreamError("connect", e instanceof ConnectError ? e.message : `connect failed: ${e.message}`, false));
      },
    );
  });
}

const enum Phase {
  Head,
  Body,
  Done,
}

const BODY_HIGH_WATER = 64 * 1024;

class Exchange implements ConnectionUser {
  private phase = Phase.Head;
  private head: Buffer | null = null;
  private framing: Framing = { kind: "none" };
  private remaining = 0;
  private decoder: ChunkedDecoder | null = null;
  private controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  private reusable = false;
  private requestDone: boolean;
  private written = false;
  private paused = false;
  private bytes = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private resolve!: (r: InboundResponse) => void;
  private reject!: (e: UpstreamError) => void;
  private readonly onAbort = () => this.fail(new UpstreamError("aborted", "client went away", this.written));

  constructor(
    private readonly pool: UpstreamPool,
    private readonly conn: Connection,
    private readonly req: OutboundRequest,
    private readonly reused: boolean,
    private readonly deadline: number,
  ) {
    this.requestDone = req.body === null;
  }

  run(): Promise<InboundResponse> {
    return new Promise<InboundResponse>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      const req = this.req;
      if (req.signal?.aborted) return this.onAbort();
      req.signal?.addEventListener("abort", this.onAbort, { once: true });
      this.timer = setTimeout(
        () => this.fail(new UpstreamError("timeout", "no response headers before request_timeout", this.written)),
        Math.max(0, this.deadline - performance.now()),
      );
      this.conn.user = this;
      let head = `${req.method} ${req.target} HTTP/1.1\r\n${req.headers}`;
      if (req.body !== null) head += req.bodyLength === null ? "transfer-encoding: chunked\r\n" : `content-length: ${req.bodyLength}\r\n`;
      else if (req.bodyLength === 0 && methodExpectsBody(req.method)) head += "content-length: 0\r\n";
      this.written = true;
      this.conn.write(Buffer.from(head + "\r\n", "latin1"));
      if (req.body !== null) void this.pumpBody(req.body);
    });
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
        if (value.byteLength === 0) continue;
        if (!this.conn.write(chunked ? chunk(value) : value)) await this.conn.drained();
      }
      if (chunked) this.conn.write(LAST_CHUNK);
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
      else if (this.phase === Phase.Body) this.onBodyData(data, false);
      else this.conn.destroy();
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
      buf = buf.subarray(end);
      if (head.status >= 100 && head.status < 200) {
        if (head.status === 101) throw new ProtocolError("unexpected 101 Switching Protocols");
        continue; // 1xx interim responses are consumed here (RFC 9110 §15.2)
      }
      this.head = null;
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.framing = framing(head, this.req.method);
      this.reusable = keepAlive(head, this.framing);
      this.phase = Phase.Body;
      const body = this.startBody(buf);
      this.resolve({ status: head.status, statusText: head.statusText, headers: head.headers, body, reused: this.reused });
      return;
    }
  }

  /** Decides between a buffered body (complete in hand) and a stream, feeding what already arrived. */
  private startBody(rest: Buffer): Uint8Array | ReadableStream<Uint8Array> | null {
    const f = this.framing;
    if (f.kind === "none") {
      if (rest.length > 0) this.reusable = false;
      this.finish(null);
      return null;
    }
    if (f.kind === "length" && rest.length >= f.length) {
      if (rest.length > f.length) this.reusable = false; // more bytes than announced: never reuse
      const body = rest.subarray(0, f.length);
      this.bytes = body.length;
      this.finish(null);
      return body;
    }
    const pieces: Uint8Array[] = [];
    if (f.kind === "length") this.remaining = f.length;
    if (f.kind === "chunked") this.decoder = new ChunkedDecoder();
    if (rest.length > 0) this.consume(rest, (d) => pieces.push(d));
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
            this.conn.resume();
          }
        },
        cancel: () => {
          // The client stopped reading (disconnect): drop the upstream connection.
          this.controller = null;
          this.finish(new Error("client cancelled the response"));
          this.conn.destroy();
        },
      },
      { highWaterMark: BODY_HIGH_WATER, size: (c) => c?.byteLength ?? 0 },
    );
  }

  private onBodyData(data: Buffer, _fromHead: boolean): void {
    const controller = this.controller;
    this.consume(data, (d) => controller?.enqueue(d));
    if (controller && this.phase === Phase.Body && (controller.desiredSize ?? 1) <= 0 && !this.paused) {
      this.paused = true;
      this.conn.pause();
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
      if (error) controller.error(error);
      else controller.close();
    }
    this.req.onBodyEnd?.(this.bytes, error);
    this.maybeRelease();
  }

  private maybeRelease(): void {
    if (this.phase !== Phase.Done) return;
    if (!this.conn.open || this.conn.user !== this) return;
    if (this.requestDone && this.reusable) this.pool.release(this.conn);
    else {
      this.conn.user = null;
      this.conn.destroy();
    }
  }

  private fail(err: UpstreamError): void {
    if (this.phase === Phase.Done) return;
    const wasHead = this.phase === Phase.Head;
    this.reusable = false;
    if (wasHead) {
      this.phase = Phase.Done;
      this.cleanup();
      this.reject(err);
      this.conn.user = null;
      this.conn.destroy();
      return;
    }
    this.finish(err);
    this.conn.destroy();
  }

  private cleanup(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.req.signal?.removeEventListener("abort", this.onAbort);
  }
}

function methodExpectsBody(method: string): boolean {
  return method === "POST" || method === "PUT" || method === "PATCH";
}

function concat(pieces: Uint8Array[]): Uint8Array {
  if (pieces.length === 1) return pieces[0]!;
  return Buffer.concat(pieces);
}
