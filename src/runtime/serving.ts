/**
 * Serving proxy traffic, the same in a primary of one process and in each worker process
 * (SPEC §15.1): the snapshot in service and its swap (SPEC §13), the plain and HTTPS listeners
 * (SPEC §5.1, §12.3) and the drain (SPEC §15.4). A primary with worker processes binds no
 * listener: it hands the pool to `delegate`, and the pool drains with it.
 *
 * Every listener is bound with SO_REUSEPORT: the workers share the ports, a certificate change
 * binds a new HTTPS listener beside the old one, and the new primary of a hitless upgrade binds
 * beside the old primary (SPEC §15.5). A cold start of one process checks first that the ports
 * are free (port-free.ts).
 */
import type { TLSOptions } from "bun";
import { allRoutes } from "../config/compile.ts";
import type { Snapshot } from "../config/snapshot.ts";
import type { Logger } from "../lib/log.ts";
import { formatAuthority } from "../lib/net.ts";
import { createFetchHandler } from "../server/http.ts";
import { HttpsListener } from "../server/https-listener.ts";
import { listen } from "../server/listen.ts";
import type { ProxyState } from "../state/proxy-state.ts";
import type { ChallengeTokens } from "../tls/challenge.ts";
import { assertPortFree } from "./port-free.ts";

export interface ServingOptions {
  /** The first snapshot; `swap` replaces it. */
  snapshot: Snapshot;
  state: ProxyState;
  /** HTTP-01 tokens answered on both listeners (SPEC §12.6). */
  challenges: ChallengeTokens;
  log: () => Logger;
}

export interface BindOptions {
  hostname: string;
  /** 0 picks a free port; `ports` then tells which. */
  httpPort: number;
  httpsPort: number;
  /** The certificate set to serve, fallback first (tls/sni.ts). */
  certificates: TLSOptions[];
  /** A cold start of one process: fail when anyone already listens on a port (SPEC §2). */
  exclusive?: boolean;
}

/** Something that accepts proxy connections and can drain: a listener, or the worker pool. */
export interface Drainable {
  /** `closeActive` cuts open connections; without it the in-flight requests finish first. */
  stop(closeActive?: boolean): Promise<void>;
}

/** A listener could not be bound; the message names the address. */
export class ListenError extends Error {}

export class Serving {
  private snapshot: Snapshot;
  private https: HttpsListener | null = null;
  private readonly doors: Drainable[] = [];
  private stopping: Promise<void> | null = null;

  /** The snapshot every new request pins (SPEC §13): read once per request by server/http.ts. */
  readonly current = (): Snapshot => this.snapshot;

  constructor(private readonly opts: ServingOptions) {
    this.snapshot = opts.snapshot;
    opts.state.breakers.configure(opts.snapshot.circuitBreaker);
  }

  /**
   * Binds the plain and the HTTPS listener of this process and returns their ports (port 0
   * resolved). Throws a ListenError, with nothing left bound, when either cannot be bound.
   */
  bind(opts: BindOptions): { http: number; https: number } {
    const { hostname } = opts;
    if (opts.exclusive) for (const port of [opts.httpPort, opts.httpsPort]) this.bindCheck(() => assertPortFree(hostname, port));
    const idleTimeout = this.snapshot.limits.keepAliveTimeoutSecs;
    const listener = (scheme: "http" | "https") => ({
      hostname,
      idleTimeout,
      fetch: createFetchHandler({ current: this.current, state: this.opts.state, log: this.opts.log, scheme, challenges: this.opts.challenges }),
    });
    const plain = this.bindCheck(() => listen({ ...listener("http"), port: opts.httpPort, reusePort: true }), hostname, opts.httpPort);
    let https: HttpsListener;
    try {
      https = this.bindCheck(() => this.listenHttps({ ...listener("https"), port: opts.httpsPort }, opts.certificates), hostname, opts.httpsPort);
    } catch (err) {
      void plain.stop(true);
      throw err;
    }
    this.https = https;
    this.doors.push(plain, https);
    return { http: plain.port ?? opts.httpPort, https: https.port };
  }

  /** Worker processes serve in this process's place (SPEC §15.1); they drain when it stops. */
  delegate(door: Drainable): void {
    this.doors.push(door);
  }

  /** The swap (SPEC §13): requests from here on see `next`; state the new snapshot no longer names is pruned. */
  swap(next: Snapshot): void {
    this.snapshot = next;
    const { state } = this.opts;
    const routes = allRoutes(next.routes);
    state.breakers.configure(next.circuitBreaker);
    state.prune(new Set(routes.map((r) => r.key)), new Set(routes.flatMap((r) => r.targets.map((t) => t.origin))));
  }

  /**
   * A new certificate set (SPEC §12.3): a new HTTPS listener serves it, the old one drains. Throws,
   * keeping the old listener, when Bun refuses it. Before `bind`, and with workers, nothing to do.
   */
  replaceCertificates(entries: TLSOptions[]): void {
    this.https?.replace(entries);
  }

  /**
   * SPEC §15.4: stop accepting, let what is in flight finish within shutdown_grace_period, then
   * close the WebSocket tunnels and cut whatever is left. Called again, the same promise.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const { state } = this.opts;
      state.shuttingDown = true; // readiness answers 503 from now on
      let timer: ReturnType<typeof setTimeout> | undefined;
      const grace = new Promise<void>((done) => (timer = setTimeout(done, this.snapshot.limits.shutdownGraceMs)));
      await Promise.race([Promise.all(this.doors.map((d) => d.stop(false))), grace]);
      clearTimeout(timer);
      for (const tunnel of state.tunnels) tunnel.shutdown();
      await Promise.all(this.doors.map((d) => d.stop(true)));
      state.pool.closeIdle();
    })();
    return this.stopping;
  }

  /** Closes every door at once, cutting open connections (a start-up that failed after `bind`). */
  async close(): Promise<void> {
    await Promise.all(this.doors.map((d) => d.stop(true)));
  }

  /**
   * The HTTPS listener with every certificate; should Bun refuse the set (each pair was already
   * checked, so this is a last resort), with the fallback alone rather than not at all.
   */
  private listenHttps(opts: ConstructorParameters<typeof HttpsListener>[0], entries: TLSOptions[]): HttpsListener {
    try {
      return new HttpsListener(opts, entries);
    } catch (err) {
      if (entries.length === 1) throw err;
      this.opts
        .log()
        .error(`cannot serve the certificates of the store (${(err as Error).message}); serving only the fallback certificate until the set changes`);
      return new HttpsListener(opts, entries.slice(0, 1));
    }
  }

  /** Runs a bind; its error becomes a ListenError naming the address (when given). */
  private bindCheck<T>(bind: () => T, hostname?: string, port?: number): T {
    try {
      return bind();
    } catch (err) {
      const message = (err as Error).message;
      throw new ListenError(hostname === undefined ? message : `${formatAuthority(hostname, port)}: ${message}`);
    }
  }
}
