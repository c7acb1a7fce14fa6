/**
 * AdminPort: everything the admin API may see or do, handed in by runtime/ (ARCHITECTURE §2: admin
 * gets an AdminPort, never the runtime). Required members exist in every build; the optional
 * providers belong to subsystems that may be absent, and their endpoints answer 501 until one is
 * wired in (createAdminPort in runtime/admin.ts).
 */
import type { Server } from "bun";
import type { AppliedConfig } from "../config/applied.ts";
import type { ReloadResult } from "../config/issues.ts";
import type { Logger } from "../lib/log.ts";
import type { SeriesPoint } from "../state/series.ts";
import type { CertificateInfo } from "../tls/certificates.ts";

/** What Hono's `c.env` carries: which door the request came through. */
export interface AdminEnv {
  /** true on run/control.sock: no rate limit, auth or CSRF check (SPEC §15.2). */
  local: boolean;
  /** TCP peer address (normalized), null on the socket. */
  peer: string | null;
  /** The Bun server, for routes that must lift the idle timeout (long deploys, SSE). */
  server?: Server<unknown>;
}

/**
 * A WebSocket accepted on the admin listener (the `_admin` passthrough): the server's handler
 * calls these, so the listener needs no knowledge of what is on the other end.
 */
export interface AdminSocketData {
  open(ws: import("bun").ServerWebSocket<AdminSocketData>): void;
  message(ws: import("bun").ServerWebSocket<AdminSocketData>, message: string | Buffer): void;
  close(ws: import("bun").ServerWebSocket<AdminSocketData>, code: number, reason: string): void;
}

/** A cluster member as GET /api/v1/cluster lists it (SPEC §11.2). */
export interface ClusterMemberInfo {
  node_id: string;
  version: string;
  config_version: number;
  config_sha256: string;
  started: string;
  last_seen: string;
  gone: boolean;
  requests_per_second: number;
  last_reload_error: string | null;
}

export interface ClusterInfo {
  enabled: boolean;
  name: string;
  redis: "up" | "down";
  self: string | null;
  members: ClusterMemberInfo[];
}

export interface BasicCredentials {
  readonly user: string;
  /** bcrypt hash of ADMIN_PASSWORD (hashed at start-up when it was given in clear). */
  readonly hash: string;
}

export interface AdminPort {
  /** soli-proxy version (package.json). */
  readonly version: string;
  /** When the process started, ms since the epoch. */
  readonly startedAt: number;
  /**
   * The configuration applied now: the snapshot serving and the rules and settings as written
   * (config/applied.ts); the admin never keeps one across requests.
   */
  current(): AppliedConfig;
  /** Real bound addresses (port 0 resolved): `host:port` of server.bind, the HTTPS port, admin.bind or null. */
  listeners(): { bind: string; httpsPort: number | null; adminBind: string | null };
  /** Text of the last rejected reload, or null when the last one succeeded. */
  lastReloadError(): string | null;
  /** The one door (SPEC §13): re-read proxy.conf and config.toml, apply them only if valid. */
  reload(): Promise<ReloadResult>;
  /**
   * An admin write (SPEC §11.5), serialized with every other reload: `build` turns the applied
   * proxy.conf (its text and rules) into the new text (it may throw ApiError), which is written
   * atomically and applied through the normal reload; a rejected reload restores the previous file.
   */
  updateConf(build: (applied: AppliedConfig) => string): Promise<ReloadResult>;
  /** ADMIN_USER / ADMIN_PASSWORD, or null when not both set. The API key is `admin.api_key` of current(). */
  basicCredentials(): BasicCredentials | null;
  log(): Logger;

  /** GET /api/v1/cluster (SPEC §11.2, §17.1): this node's view of the cluster. */
  cluster?(): Promise<ClusterInfo>;

  /**
   * Hitless upgrade (SPEC §15.5): start the executable now on disk beside this process, hand over
   * to it and retire. Resolves with the new primary once it is ready; rejects (this process keeps
   * serving) with why it was not.
   */
  upgrade?(): Promise<{ pid: number; version: string }>;

  /** Rate limit for admin requests (SPEC §8), checked first; absent ⇒ no limit. */
  rateLimit?(req: Request, peer: string): RateLimitVerdict;
  /** Prometheus text of SPEC §10. */
  metricsText?(): string | Promise<string>;
  breakers?: BreakerProvider;
  certificates?: CertificateProvider;
  apps?: AppsProvider;
  /** The last 15 minutes of traffic, a point a second (state/series.ts), for the dashboard (SPEC §18). */
  series?: SeriesProvider;
}

export interface SeriesProvider {
  /** Every point kept, oldest first. */
  points(): SeriesPoint[];
  /** Calls `listener` with each new point; returns the unsubscribe function. */
  subscribe(listener: (point: SeriesPoint) => void): () => void;
}

export interface RateLimitVerdict {
  allowed: boolean;
  /** RateLimit-* (and Retry-After when refused) headers for the response. */
  headers: Record<string, string>;
}

export interface BreakerState {
  state: "closed" | "open" | "half_open";
  consecutive_failures: number;
  consecutive_successes: number;
}

export interface BreakerProvider {
  /** Keyed by upstream origin. */
  states(): Record<string, BreakerState>;
  reset(): void;
}

export interface CertificateProvider {
  list(): CertificateInfo[];
  /** Rescans the store now; `refused` lists the pairs that were not loaded and why. */
  reload(): Promise<{ count: number; refused: { file: string; error: string }[] }>;
}

/** An app action failure, mapped to 404 / 409 / 500 (ARCHITECTURE §6 AppError). */
export interface AppFailure {
  kind: "not_found" | "busy" | "failed";
  message: string;
}

/** Managed apps (SPEC §14, §11.2): values are the JSON of SPEC §11.4 and §10. */
export interface AppsProvider {
  /** Apps without `_admin`. */
  list(): unknown[];
  get(name: string): unknown | null;
  metrics(): Record<string, unknown>;
  systemMetrics(): Record<string, unknown>;
  /** The per-app metrics object, or null when the app has none yet. */
  appMetrics(name: string): unknown | null;
  /**
   * Runs the action to completion; rejects with an AppFailure. Returns the slot now serving.
   * `onProgress` gets each progress event of SPEC §14.7 (the SSE form of §11.2).
   */
  deploy(name: string, onProgress?: (progress: object) => void): Promise<{ slot: string }>;
  restart(name: string, onProgress?: (progress: object) => void): Promise<{ slot: string }>;
  rollback(name: string, onProgress?: (progress: object) => void): Promise<{ slot: string }>;
  /** Whether a deploy, restart, rollback or stop of the app runs now (409 before a stream opens). */
  busy(name: string): boolean;
  /** The progress phases of SPEC §14.7, for the `/events/apps?phase=` filter. */
  readonly phases: readonly string[];
  stop(name: string): Promise<void>;
  /** Last 256 KiB of each slot log, or null for an unknown app. */
  logs(name: string): Promise<{ blue: string; green: string } | null>;
  /** Calls `listener` with each app event; returns the unsubscribe function. */
  subscribe(listener: (event: object) => void): () => void;
  /**
   * Proxies a request for an unknown admin path to the `_admin` app, HTTP or WebSocket (SPEC
   * §11.2), or null when there is none. `env` gives the peer and the server a WebSocket upgrades on.
   */
  passthrough?(req: Request, env: AdminEnv | undefined): Promise<Response> | null;
}
