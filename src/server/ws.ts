/**
 * WebSocket tunnels (SPEC §5.8): the backend first, then the client's 101, then a relay.
 *
 * 1. The proxy opens a WebSocket client to the backend (5 s). Only when the backend accepted does
 *    it call server.upgrade(), answering the client 101 with the subprotocol the backend chose;
 *    otherwise the client gets 502 or 504 and nothing hangs.
 * 2. Messages are relayed in order with their type (text stays text, binary stays binary). The
 *    backend is paused while the client side is not open yet, and whatever it already delivered
 *    is queued (bounded by that pause) and flushed first.
 * 3. Backpressure: reading from one side pauses while the other has more than 1 MiB buffered. The
 *    client side has a `drain` event; Bun's WebSocket client has none, so a paused client side is
 *    resumed by polling the backend's bufferedAmount on a short timer that runs only while paused.
 * 4. Limits ride on the coarse clock (state.watch): idle in both directions, lifetime, bytes per
 *    direction; a message above 16 MiB closes with 1009 (Bun enforces it on the client side).
 * 5. A close on either side closes the other with the same code and reason; an abnormal closure
 *    (1006, 1015) becomes 1011.
 */
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import type { Logger } from "../lib/log.ts";
import { plain } from "../proxy/errors.ts";
import type { TunnelRequest } from "../proxy/websocket.ts";
import type { OpenTunnel } from "../state/proxy-state.ts";
import type { Watch, Watched } from "../state/watch.ts";
import type { ExchangeControl } from "../upstream/exchange.ts";

/** SPEC §5.8: a message above this closes the tunnel with 1009. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** SPEC §5.8: reading from one side pauses while the other has more than this buffered. */
export const HIGH_WATER_BYTES = 1024 * 1024;
/** SPEC §5.10: the backend handshake. */
const HANDSHAKE_MS = 5000;
/** How often a paused client side checks whether the backend drained. */
const RESUME_POLL_MS = 5;

export interface TunnelDeps {
  readonly watch: Watch;
  readonly tunnels: Set<OpenTunnel>;
  readonly log: Logger;
  /** The door's handle to cancel the handshake when the client leaves. */
  readonly control: ExchangeControl;
  /** Called once when a tunnel the client was upgraded to is over, with the bytes relayed to the client. */
  readonly onEnd: (bytesToClient: number, error: Error | null) => void;
}

const enum Phase {
  /** Waiting for the backend to accept. */
  Handshake,
  /** Backend open; the client's 101 is on its way. */
  Upgrading,
  Open,
  Closed,
}

type Message = string | Buffer;

export class Tunnel implements Watched, OpenTunnel {
  readonly answer: Promise<Response | undefined>;
  private phase = Phase.Handshake;
  private readonly backend: WebSocket;
  private client: ServerWebSocket<Tunnel> | null = null;
  private resolve!: (r: Response | undefined) => void;
  private readonly startedAt = performance.now();
  private openedAt = 0;
  private lastActive = 0;
  /** Set by every message; the clock turns it into `lastActive` without a clock read per message. */
  private active = false;
  private bytesToBackend = 0;
  private bytesToClient = 0;
  /**
   * Messages the backend delivered before the client side opened. Bounded: the backend is paused
   * from its open event on, so only what one socket read already held can land here.
   */
  private early: Message[] = [];
  /** Close code and reason of a backend that left before the client side opened. */
  private backendGone: [number, string] | null = null;
  /** The client got its 101: the request record completes when the tunnel ends. */
  private upgraded = false;
  private ended = false;
  private backendPaused = false;
  private clientPaused = false;
  private resumeTimer: ReturnType<typeof setTimeout> | null = null;
  /** The most each side had buffered in this process, in bytes (tests and benchmarks read them). */
  peakClientBuffered = 0;
  peakBackendBuffered = 0;

  constructor(
    private readonly req: Request,
    private readonly server: Server<unknown>,
    readonly request: TunnelRequest,
    private readonly deps: TunnelDeps,
  ) {
    this.answer = new Promise((resolve) => (this.resolve = resolve));
    this.backend = new WebSocket(request.url, { headers: request.headers, protocols: request.protocols, perMessageDeflate: false });
    this.backend.binaryType = "nodebuffer";
    this.backend.onopen = () => this.backendOpened();
    this.backend.onmessage = (e) => this.fromBackend(e.data as Message);
    this.backend.onerror = (e) => this.backendFailed(e);
    this.backend.onclose = (e) => this.backendClosed(e.code, e.reason);
    deps.control.exchange = { abort: () => this.cancelHandshake("client went away") };
    deps.watch.add(this);
  }

  /** The coarse clock: handshake deadline, idle and lifetime limits, and backpressure upkeep. */
  tick(now: number): void {
    if (this.phase === Phase.Handshake) {
      if (now - this.startedAt >= HANDSHAKE_MS)
        this.handshakeFailed(504, "Backend timed out on WebSocket upgrade", `no answer within ${HANDSHAKE_MS / 1000} s`);
      return;
    }
    if (this.phase === Phase.Upgrading) {
      // Upgraded but the client's socket never opened: it is gone; so is the tunnel.
      if (now - this.startedAt >= 2 * HANDSHAKE_MS) {
        this.phase = Phase.Closed;
        this.closeBackend(1001, "client never opened");
        this.end(new Error("client socket never opened"));
      }
      return;
    }
    if (this.phase !== Phase.Open) return;
    const limits = this.request.limits;
    if (this.active) {
      this.active = false;
      this.lastActive = now;
    } else if (now - this.lastActive >= limits.idleMs) {
      return this.closeBoth(1000, "idle timeout");
    }
    if (now - this.openedAt >= limits.lifetimeMs) this.closeBoth(1000, "max lifetime");
  }

  /** Shutdown (SPEC §15.4): both sides closed with 1001. */
  shutdown(): void {
    if (this.phase === Phase.Handshake) return this.cancelHandshake("shutting down");
    this.closeBoth(1001, "going away");
  }

  // ---- handshake ----

  private backendOpened(): void {
    if (this.phase !== Phase.Handshake) return;
    this.phase = Phase.Upgrading;
    this.deps.control.exchange = null;
    // Nothing may reach a client that has no socket yet: hold the backend until open().
    this.backend.pause();
    this.backendPaused = true;
    const chosen = this.backend.protocol;
    let upgraded = false;
    try {
      upgraded = this.server.upgrade(this.req, { data: this, headers: chosen ? { "sec-websocket-protocol": chosen } : undefined });
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message, upstream: this.request.describe }, "WebSocket upgrade of the client failed");
    }
    if (!upgraded) {
      this.phase = Phase.Closed;
      this.closeBackend(1011, "client upgrade failed");
      this.end(new Error("client upgrade failed"));
      this.resolve(plain(400, "GET", "Bad Request"));
      return;
    }
    this.upgraded = true;
    this.deps.tunnels.add(this);
    this.resolve(undefined);
  }

  private backendFailed(e: Event): void {
    if (this.phase !== Phase.Handshake) return;
    const message = (e as ErrorEvent).message ?? "";
    const status = /Expected 101 status code: (\d+)/.exec(message)?.[1];
    if (status !== undefined) this.handshakeFailed(502, "Backend rejected WebSocket upgrade", `answered ${status} instead of 101`);
    else this.handshakeFailed(502, "Backend not reachable", message.replace(/^WebSocket connection to '[^']*' failed: /, "") || "connection failed");
  }

  private cancelHandshake(why: string): void {
    if (this.phase !== Phase.Handshake) return;
    this.handshakeFailed(502, "Backend not reachable", why);
  }

  private handshakeFailed(status: number, body: string, why: string): void {
    this.phase = Phase.Closed;
    this.deps.control.exchange = null;
    this.backend.terminate();
    this.deps.log.warn({ upstream: this.request.describe, status, err: why }, `WebSocket backend handshake failed: ${why}`);
    this.end(new Error(`${body}: ${why}`));
    this.resolve(plain(status, "GET", body));
  }

  // ---- the client side (Bun.serve websocket handler) ----

  clientOpened(ws: ServerWebSocket<Tunnel>): void {
    if (this.phase !== Phase.Upgrading) return ws.close(1001, "going away");
    this.client = ws;
    this.phase = Phase.Open;
    this.openedAt = this.lastActive = performance.now();
    for (const m of this.early.splice(0)) this.sendToClient(m);
    // The backend may have said everything and left between its handshake and ours.
    if (this.backendGone !== null) return this.backendClosed(...this.backendGone);
    if (ws.getBufferedAmount() <= HIGH_WATER_BYTES) this.resumeBackend();
  }

  fromClient(m: Message): void {
    if (this.phase !== Phase.Open) return;
    this.active = true;
    this.bytesToBackend += typeof m === "string" ? Buffer.byteLength(m) : m.byteLength;
    if (this.bytesToBackend > this.request.limits.maxBytesPerDirection) return this.closeBoth(1009, "max bytes per direction");
    this.backend.send(m);
    const buffered = this.backend.bufferedAmount;
    if (buffered > this.peakBackendBuffered) this.peakBackendBuffered = buffered;
    if (buffered > HIGH_WATER_BYTES && !this.clientPaused) {
      this.clientPaused = true;
      this.client!.pause();
      this.resumeTimer = setTimeout(this.pollBackendDrain, RESUME_POLL_MS);
    }
  }

  clientDrained(): void {
    if (this.backendPaused && this.phase === Phase.Open && this.client!.getBufferedAmount() <= HIGH_WATER_BYTES) this.resumeBackend();
  }

  clientClosed(code: number, reason: string): void {
    if (this.phase === Phase.Closed) return;
    this.phase = Phase.Closed;
    this.client = null;
    // Bun reports a message above maxPayloadLength as 1006 after answering the client 1009.
    const sent = code === 1006 && reason === "Received too big message" ? 1009 : code;
    this.closeBackend(sent, reason);
    this.end(sent === 1006 ? new Error("client connection lost") : null);
  }

  // ---- the backend side ----

  private fromBackend(m: Message): void {
    if (this.phase !== Phase.Open && this.phase !== Phase.Upgrading) return;
    const size = typeof m === "string" ? Buffer.byteLength(m) : m.byteLength;
    if (size > MAX_MESSAGE_BYTES) return this.closeBoth(1009, "message too big");
    this.bytesToClient += size;
    if (this.bytesToClient > this.request.limits.maxBytesPerDirection) return this.closeBoth(1009, "max bytes per direction");
    this.active = true;
    if (this.phase === Phase.Upgrading) this.early.push(m);
    else this.sendToClient(m);
  }

  private sendToClient(m: Message): void {
    const client = this.client!;
    // -1 means "queued, backpressure"; Bun's backpressureLimit is set far above what pausing lets
    // accumulate, so a send is never dropped (0). Only a queued send needs a look at the buffer.
    if (client.send(m) !== -1) return;
    const buffered = client.getBufferedAmount();
    if (buffered > this.peakClientBuffered) this.peakClientBuffered = buffered;
    if (buffered > HIGH_WATER_BYTES && !this.backendPaused) {
      this.backendPaused = true;
      this.backend.pause();
    }
  }

  private backendClosed(code: number, reason: string): void {
    if (this.phase === Phase.Handshake) return this.handshakeFailed(502, "Backend not reachable", `closed during the handshake (${code})`);
    if (this.phase === Phase.Upgrading) {
      this.backendGone = [code, reason];
      return;
    }
    if (this.phase === Phase.Closed) return;
    this.phase = Phase.Closed;
    const abnormal = code === 1006 || code === 1015;
    this.client?.close(abnormal ? 1011 : code, abnormal ? "backend closed abnormally" : reason);
    this.client = null;
    this.end(abnormal ? new Error("backend connection lost") : null);
  }

  // ---- both ----

  private closeBoth(code: number, reason: string): void {
    if (this.phase === Phase.Closed) return;
    this.phase = Phase.Closed;
    this.client?.close(code, reason);
    this.client = null;
    this.closeBackend(code, reason);
    this.end(null);
  }

  /** The backend's client API accepts fewer codes than the wire carries: 1005 means no code, and the rest become 1011. */
  private closeBackend(code: number, reason: string): void {
    try {
      if (code === 1005) this.backend.close();
      else if (code === 1000 || (code >= 1001 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999))
        this.backend.close(code, reason);
      else this.backend.close(1011, code === 1006 ? "client closed abnormally" : reason);
    } catch {
      this.backend.terminate();
    }
  }

  private resumeBackend(): void {
    this.backendPaused = false;
    this.backend.resume();
  }

  private readonly pollBackendDrain = (): void => {
    this.resumeTimer = null;
    if (this.phase !== Phase.Open) return;
    if (this.backend.bufferedAmount > HIGH_WATER_BYTES) {
      this.resumeTimer = setTimeout(this.pollBackendDrain, RESUME_POLL_MS);
      return;
    }
    this.clientPaused = false;
    this.client!.resume();
  };

  /** The tunnel is over: stop its clock; a tunnel that reached the client reports its bytes. */
  private end(error: Error | null): void {
    if (this.ended) return;
    this.ended = true;
    this.early = [];
    if (this.resumeTimer !== null) clearTimeout(this.resumeTimer);
    this.deps.watch.delete(this);
    this.deps.tunnels.delete(this);
    if (this.upgraded) this.deps.onEnd(this.bytesToClient, error);
  }
}

/** Opens the backend side; the promise is the answer to the client's request (undefined once upgraded). */
export function openTunnel(req: Request, server: Server<unknown>, request: TunnelRequest, deps: TunnelDeps): Promise<Response | undefined> {
  let tunnel: Tunnel;
  try {
    tunnel = new Tunnel(req, server, request, deps);
  } catch (err) {
    // The WebSocket constructor refuses bad URLs and protocol tokens up front.
    deps.log.warn({ upstream: request.describe, err: (err as Error).message }, "WebSocket backend request refused");
    return Promise.resolve(plain(400, "GET", "Bad Request"));
  }
  return tunnel.answer;
}

/** The Bun.serve `websocket` handler of the proxy listeners; each socket's data is its Tunnel. */
export const tunnelHandler: WebSocketHandler<Tunnel> = {
  maxPayloadLength: MAX_MESSAGE_BYTES,
  // Pausing keeps the buffer near HIGH_WATER_BYTES; this limit only guarantees Bun never drops.
  backpressureLimit: 2 * MAX_MESSAGE_BYTES + HIGH_WATER_BYTES,
  closeOnBackpressureLimit: false,
  perMessageDeflate: false,
  open(ws) {
    ws.data.clientOpened(ws);
  },
  message(ws, message) {
    ws.data.fromClient(message);
  },
  drain(ws) {
    ws.data.clientDrained();
  },
  close(ws, code, reason) {
    ws.data.clientClosed(code, reason);
  },
};
