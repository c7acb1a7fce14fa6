/**
 * The cluster's one Redis connection (SPEC §17): Bun's built-in RedisClient, with the reconnect
 * policy of SPEC §17.6 done here rather than by the client: Bun's own auto-reconnect gives up after
 * `maxRetries` and queues commands while offline, and a proxy must neither stall a request on a
 * queued command nor stop trying. So: no offline queue (a command while down fails at once and the
 * caller falls back to local state), and a new client after 1 s, doubling to 30 s.
 *
 * The URL's password is never logged: only `redactUrl()` of it appears anywhere.
 */
import { RedisClient } from "bun";
import type { Logger } from "../lib/log.ts";

export type RedisState = "up" | "down";

const FIRST_RETRY_MS = 1_000;
const LAST_RETRY_MS = 30_000;
/** A command that takes longer counts as Redis being unreachable (the request is not held longer). */
const COMMAND_TIMEOUT_MS = 1_000;
const SWEEP_MS = 100;

interface Pending {
  command: string;
  reject: (err: Error) => void;
  deadline: number;
}

export interface RedisLinkOptions {
  url: string;
  log: () => Logger;
  /** Called on every change of state; "up" after a reconnect is the cue to resynchronise. */
  onState?(state: RedisState): void;
  /** Shorter back-off (tests). */
  firstRetryMs?: number;
}

export class RedisLink {
  private client: RedisClient | null = null;
  private state: RedisState = "down";
  private retryMs: number;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  /** The last failure reason, said once per outage (SPEC §17.6). */
  private reported = false;
  private readonly listeners = new Set<(state: RedisState) => void>();
  /** Commands sent and not answered yet, with their deadlines. */
  private readonly pending = new Set<Pending>();
  private sweeping: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly opts: RedisLinkOptions) {
    this.retryMs = opts.firstRetryMs ?? FIRST_RETRY_MS;
    if (opts.onState) this.listeners.add(opts.onState);
  }

  get up(): boolean {
    return this.state === "up";
  }

  get status(): RedisState {
    return this.state;
  }

  onState(listener: (state: RedisState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Connects in the background; resolves once the first attempt succeeded or failed. */
  start(): Promise<void> {
    return this.connect();
  }

  /**
   * A raw command (EVALSHA, SET NX PX, ...). Rejects at once while down and after
   * COMMAND_TIMEOUT_MS when Redis does not answer, so no caller waits on an outage.
   */
  send(command: string, args: string[]): Promise<unknown> {
    const client = this.client;
    if (client === null || this.state !== "up") return Promise.reject(new Error("redis is down"));
    // One sweeping timer for every command instead of a timer each: this is on the request path.
    return new Promise((resolve, reject) => {
      const entry: Pending = { command, reject, deadline: performance.now() + COMMAND_TIMEOUT_MS };
      this.pending.add(entry);
      this.sweeping ??= setInterval(this.sweep, SWEEP_MS);
      client.send(command, args).then(
        (value) => {
          this.pending.delete(entry);
          resolve(value);
        },
        (err) => {
          this.pending.delete(entry);
          reject(err);
        },
      );
    });
  }

  private readonly sweep = (): void => {
    const now = performance.now();
    let late: Error | null = null;
    for (const entry of this.pending) {
      if (entry.deadline > now) continue;
      this.pending.delete(entry);
      late = new Error(`redis did not answer ${entry.command} within ${COMMAND_TIMEOUT_MS} ms`);
      entry.reject(late);
    }
    // A Redis that holds the connection open but answers nothing (paused, overloaded) is down:
    // drop the connection so requests use local state at once, and reconnect with back-off.
    const client = this.client;
    if (late !== null && client !== null) {
      client.onclose = null;
      client.close();
      this.lost(client, late);
    }
    if (this.pending.size === 0 && this.sweeping) {
      clearInterval(this.sweeping);
      this.sweeping = null;
    }
  };

  close(): void {
    this.closed = true;
    if (this.sweeping) clearInterval(this.sweeping);
    this.sweeping = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const client = this.client;
    this.client = null;
    if (client) {
      client.onclose = null;
      client.close();
    }
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new RedisClient(this.opts.url, { autoReconnect: false, enableOfflineQueue: false, connectionTimeout: 3_000 });
    client.onclose = (err) => this.lost(client, err);
    try {
      await client.connect();
      // A server that accepted the connection but is not Redis (or refused AUTH) fails here.
      const pong = await Promise.race([client.send("PING", []), Bun.sleep(COMMAND_TIMEOUT_MS).then(() => "timeout")]);
      if (pong !== "PONG") throw new Error(`unexpected answer to PING: ${String(pong).slice(0, 40)}`);
    } catch (err) {
      client.onclose = null;
      client.close();
      this.failed(err as Error);
      return;
    }
    if (this.closed) {
      client.close();
      return;
    }
    this.client = client;
    this.retryMs = this.opts.firstRetryMs ?? FIRST_RETRY_MS;
    if (this.reported) this.opts.log().info({ redis: redactUrl(this.opts.url) }, "cluster: redis is back up");
    else this.opts.log().info({ redis: redactUrl(this.opts.url) }, "cluster: connected to redis");
    this.reported = false;
    this.setState("up");
  }

  private lost(client: RedisClient, err: Error | undefined): void {
    if (client !== this.client) return;
    this.client = null;
    this.failed(err ?? new Error("connection closed"));
  }

  private failed(err: Error): void {
    if (this.closed) return;
    if (!this.reported) {
      this.reported = true;
      this.opts
        .log()
        .warn(
          { redis: redactUrl(this.opts.url), err: redactText(err.message, this.opts.url), ...tlsHint(this.opts.url) },
          "cluster: redis unreachable; serving with local state (certificates on disk, per-node rate limits, own configuration) and reconnecting",
        );
    }
    this.setState("down");
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, LAST_RETRY_MS);
  }

  private setState(state: RedisState): void {
    const changed = state !== this.state;
    this.state = state;
    if (changed || state === "up") for (const l of this.listeners) l(state);
  }
}

/**
 * Bun reports a rediss:// server whose certificate it does not trust as a bare "Connection
 * closed", the same words as a server that went away. Bun's client is verified against the system
 * store and NODE_EXTRA_CA_CERTS (read at process start), so say where a private CA goes.
 */
function tlsHint(url: string): { hint?: string } {
  if (!url.startsWith("rediss://")) return {};
  return {
    hint: "with rediss:// the server's certificate must be trusted: a certificate from a private CA needs that CA's PEM file in NODE_EXTRA_CA_CERTS in the proxy's environment",
  };
}

/** The URL without its password, for logs and the API (SPEC §17.7). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    return "(invalid redis url)";
  }
}

function redactText(text: string, url: string): string {
  try {
    const password = decodeURIComponent(new URL(url).password);
    return password === "" ? text : text.split(password).join("***");
  } catch {
    return text;
  }
}
