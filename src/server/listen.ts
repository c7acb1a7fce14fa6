/**
 * Bun.serve listeners for proxy traffic (SPEC §5.1): plain HTTP/1.1 + h2c on server.bind, and
 * HTTPS with ALPN h2/http1.1 and per-SNI certificates on https_port.
 */
import type { Server, TLSOptions } from "bun";
import type { FetchHandler } from "./http.ts";
import { tunnelHandler } from "./ws.ts";

export interface ListenerOptions {
  hostname: string;
  port: number;
  fetch: FetchHandler;
  /** Seconds a client connection may sit idle between requests (keep_alive_timeout). */
  idleTimeout: number;
  /** Present for the HTTPS listener: the first entry without serverName is the fallback. */
  tls?: TLSOptions[];
  /** Needed when a second listener must bind the same port (certificate reload, workers). */
  reusePort?: boolean;
}

/**
 * TLS 1.2 cipher suites: ECDHE key exchange with AEAD ciphers only, Mozilla's "intermediate"
 * list less the DHE suites (they need DH parameters). Bun's default list also accepts CBC suites
 * with SHA-1 MACs. TLS 1.0 and 1.1 need nothing here: Bun's minimum version is TLS 1.2, and the
 * TLS 1.3 suites are not governed by this list (test/e2e/security.test.ts checks both).
 */
export const TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

export function listen(opts: ListenerOptions): Server<unknown> {
  return Bun.serve({
    hostname: opts.hostname,
    port: opts.port,
    // HTTP/2: ALPN h2 on TLS, prior-knowledge h2c on the plain port (SPEC §5.1).
    http2: true,
    // Bun.serve runs in development mode unless told (NODE_ENV): its error pages and checks are for apps.
    development: false,
    idleTimeout: opts.idleTimeout,
    // Request bodies stream to the upstream; the limit is max_request_size, enforced while streaming.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    reusePort: opts.reusePort ?? false,
    tls: opts.tls?.map((entry) => ({ ciphers: TLS12_CIPHERS, ...entry })),
    fetch: opts.fetch,
    // WebSocket upgrades over HTTP/1.1 on both listeners (SPEC §5.1, §5.8).
    websocket: tunnelHandler,
    error(err) {
      // Reached only when a handler threw outside our own try/catch; never leak the error text.
      console.error("listener error:", err);
      return new Response("Internal Server Error", { status: 500, headers: { "content-type": "text/plain; charset=utf-8" } });
    },
  } as Parameters<typeof Bun.serve>[0]);
}
