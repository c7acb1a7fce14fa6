/**
 * The HTTPS listener whose certificate set can change while it runs (SPEC §12.3). Bun's
 * `server.reload()` swaps handlers but ignores `tls` (oven-sh/bun#43815), so a new set means a new
 * listener on the same port (every one is bound with reusePort), after which the old one stops
 * accepting and drains: its in-flight requests, streams and WebSockets finish on it, and Bun closes
 * each of its connections once idle, so clients reconnect to the new listener.
 */
import type { Server, TLSOptions } from "bun";
import { listen, type ListenerOptions } from "./listen.ts";

export class HttpsListener {
  private server: Server<unknown>;
  private readonly draining = new Set<Server<unknown>>();
  /** The bound port; a configured port 0 resolves here and every replacement reuses it. */
  readonly port: number;

  constructor(
    private readonly opts: Omit<ListenerOptions, "tls" | "reusePort">,
    tls: TLSOptions[],
  ) {
    this.server = listen({ ...opts, tls, reusePort: true });
    this.port = this.server.port ?? opts.port;
  }

  /** Serves `tls` for new handshakes from now on; throws (keeping the old listener) when Bun refuses it. */
  replace(tls: TLSOptions[]): void {
    const next = listen({ ...this.opts, port: this.port, tls, reusePort: true });
    const old = this.server;
    this.server = next;
    this.draining.add(old);
    void old.stop(false).finally(() => this.draining.delete(old));
  }

  /** Listeners still draining after a replacement (tests). */
  get drainingCount(): number {
    return this.draining.size;
  }

  /** Stops the current and any draining listener; `closeActive` cuts open connections at once. */
  async stop(closeActive = false): Promise<void> {
    await Promise.all([this.server, ...this.draining].map((s) => s.stop(closeActive)));
  }
}
