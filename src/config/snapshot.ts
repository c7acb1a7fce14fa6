/**
 * The compiled, frozen configuration the request path reads (ARCHITECTURE §3). Everything here is
 * computed once per reload: regexes, host indexes, URL parts, header templates, CIDR sets, limits
 * in the units the code uses. The request path only looks things up.
 *
 * This is the only config file the request path imports, and only for its types. Nothing here is
 * raw: the rules and settings as written, and their text, are in the applied-config record
 * (applied.ts), so no request reads a config.toml key.
 */
import type { KeyObject } from "node:crypto";
import type { CryptoKey, FlattenedJWSInput, JWSHeaderParameters } from "jose";
import type { CidrSet } from "../lib/net.ts";
import type { Endpoint } from "../lib/endpoint.ts";
import type { LbStrategy } from "./model.ts";

export type RouteKind = "default" | "exact" | "prefix" | "regex" | "domain" | "domain_path" | "app";
export type TargetScheme = "http" | "https" | "ws" | "wss" | "redirect";

/** A header template segment: literal text, or one of the three variables of SPEC §3.5. */
export type TemplatePart = string | HeaderVar;
export const enum HeaderVar {
  ClientIp = 0,
  Scheme = 1,
  Host = 2,
}

export interface HeaderRule {
  /** Lower-case header name. */
  readonly name: string;
  /** null removes the header. A single string is a constant value. */
  readonly value: null | string | readonly TemplatePart[];
}

/** A regex target's path-and-query with its group references resolved to group indexes or names. */
export type UrlTemplate = readonly (string | number | { readonly name: string })[];

export interface Upstream {
  /** Normalized URL as configured (`http://h:1/`). */
  readonly url: string;
  /** `scheme://host:port`, the breaker key (SPEC §6.2) and the `upstream` metrics label. */
  readonly origin: string;
  readonly scheme: TargetScheme;
  /** true for https and wss: connect with TLS and rewrite Host/Origin (SPEC §3.4). */
  readonly secure: boolean;
  readonly hostname: string;
  readonly port: number;
  /** `host[:port]` as written, used as Host for https/wss targets and for redirects. */
  readonly authority: string;
  /** Target path (always starts with `/`) and query (without `?`, may be empty). */
  readonly path: string;
  readonly query: string;
  /** Regex rules only: the path-and-query template with group references. */
  readonly template: UrlTemplate | null;
  readonly weight: number;
  /** Where the upstream client connects (pool key included), computed once. */
  readonly endpoint: Endpoint;
}

export interface Route {
  /** Matcher text (SPEC §3.9): identity for rotation counters, metrics `route` label, option blocks. */
  readonly key: string;
  readonly kind: RouteKind;
  /** exact: the path; prefix and domain_path: the mount with trailing `/`; domain: the host. */
  readonly value: string;
  readonly regex: RegExp | null;
  /** A target refers to the regex's groups (`$1`, `${name}`): matching must capture, not just test. */
  readonly captures: boolean;
  readonly targets: readonly Upstream[];
  readonly strategy: LbStrategy;
  readonly redirect: boolean;
  /** Global then rule `headers {}` entries merged: one entry per name, the rule's winning. */
  readonly headers: readonly HeaderRule[];
  /** Weighted rules: position → target index over the total weight, and the stride (SPEC §6.1). */
  readonly weighted: { readonly slots: Uint16Array; readonly stride: number } | null;
  /** Header names the global and rule `headers {}` blocks set or remove; the client's copy is dropped. */
  readonly headerNames: ReadonlySet<string>;
  /** Index of the rule in proxy.conf; -1 for app routes. */
  readonly index: number;
  /** Managed app name for app routes. */
  readonly app: string | null;
  /** The auth policy that applies (its own, else the global one, SPEC §7.1); null: none. */
  readonly auth: AuthPolicy | null;
  /** The rule's own `rate_limit:` bucket, checked after the global one (SPEC §3.6, §8). */
  readonly rateLimit: RateLimitSpec | null;
}

/** A Basic-auth user with everything the check needs precomputed (SPEC §7.2); as written in config: model.ts BasicUser. */
export interface CompiledBasicUser {
  readonly name: string;
  /** SHA-256 of the name, for the constant-time comparison. */
  readonly nameDigest: Uint8Array;
  readonly hash: string;
  readonly grant: AuthGrant;
}

/** What a successful check adds to the request sent upstream (SPEC §5.6 step 4). */
export interface AuthGrant {
  /** Header lines, each `name: value\r\n`. */
  readonly headers: string;
  /** Lower-case header names to remove from the client's request. */
  readonly drop: ReadonlySet<string> | null;
}

export interface BasicPolicy {
  readonly kind: "basic";
  readonly realm: string;
  /** `WWW-Authenticate` value of a 401. */
  readonly challenge: string;
  readonly users: readonly CompiledBasicUser[];
  /** Verified when the user is unknown, so every attempt costs one bcrypt verification. */
  readonly dummyHash: string;
  /** SHA-256 (hex) of the configured users and hashes: part of the cache key (SPEC §7.2). */
  readonly cacheSalt: string;
  /** The global claim headers, dropped from the client's request like everywhere else. */
  readonly drop: ReadonlySet<string> | null;
}

export interface ApiKeyEntry {
  readonly name: string;
  /** SHA-256 of the key (given as `sha256:<hex>`, or computed from a plain value). */
  readonly digest: Uint8Array;
  readonly grant: AuthGrant;
}

export interface ApiKeyPolicy {
  readonly kind: "api_key";
  readonly realm: string;
  readonly challenge: string;
  /** Lower-case header the key is read from. */
  readonly header: string;
  readonly keys: readonly ApiKeyEntry[];
}

/** Where a JWT policy gets its verification keys. */
export type JwtKeySource =
  /** A secret (HS*) or a PEM public key, imported at compile time. */
  | { readonly type: "static"; readonly key: KeyObject }
  /** A JWKS file, read and checked at load time. */
  | { readonly type: "jwks"; readonly resolve: (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey> }
  /** A JWKS URL, fetched and cached by state/jwks.ts. */
  | { readonly type: "remote"; readonly url: string };

export interface JwtPolicy {
  readonly kind: "jwt";
  readonly realm: string;
  /** `Bearer realm="…"` for a missing token, and the same with `, error="invalid_token"`. */
  readonly challenge: string;
  readonly invalidChallenge: string;
  readonly source: JwtKeySource;
  readonly algorithms: readonly string[];
  readonly issuer: string | null;
  readonly audience: string | readonly string[] | null;
  readonly leewaySecs: number;
  /** Claim → lower-case upstream header. */
  readonly claims: readonly { readonly claim: string; readonly header: string }[];
  readonly drop: ReadonlySet<string> | null;
  /** Identifies the key material and checks, so verified tokens are cached per configuration. */
  readonly cacheId: string;
}

export type AuthPolicy = BasicPolicy | ApiKeyPolicy | JwtPolicy;

/** A token bucket per client IP (SPEC §8), as state/limiter.ts takes it. */
export interface RateLimitSpec {
  /** Tokens added per second. */
  readonly perSecond: number;
  /** Bucket capacity. */
  readonly burst: number;
}

export interface RouteTable {
  /** domain_path rules by host, each list in file order (SPEC §5.3 step 1). */
  readonly domainPath: ReadonlyMap<string, readonly Route[]>;
  /** Managed apps by domain, `www.` form and dev alias (step 2). */
  readonly apps: ReadonlyMap<string, Route>;
  /** The first domain rule for each host (step 3). */
  readonly domain: ReadonlyMap<string, Route>;
  /** exact, prefix and regex rules in file order (step 4). */
  readonly paths: readonly Route[];
  /**
   * Positions in `paths` by the first path segment a rule can match (`/api/*`, `/api/x` and
   * `~^/api/…` all under "api"), keyed by segmentHash(), each list in file order; so a request
   * looks at the rules of its own first segment, not at all of them. Empty for small tables,
   * which are scanned whole (all positions in anySegment).
   */
  readonly bySegment: ReadonlyMap<number, Int32Array>;
  /** Positions of rules that can match any first segment (`/*`, unanchored regexes), in file order. */
  readonly anySegment: Int32Array;
  /** The first default rule (step 5). */
  readonly fallback: Route | null;
}

export interface Limits {
  readonly maxRequestSize: number | null;
  /**
   * Upstream bodies with a Content-Length up to this many bytes are read whole and sent as bytes,
   * keeping their length (Bun.serve drops it from streamed bodies, oven-sh/bun#10507); 0 streams all.
   */
  readonly bufferResponseMax: number;
  readonly maxInFlight: number | null;
  /** Concurrent requests of one client IP (HTTP/2 streams included); above ⇒ 429 (SPEC §4). */
  readonly maxInFlightPerClient: number;
  /** Open connections per upstream origin; requests beyond wait for one (SPEC §4). */
  readonly maxUpstreamConnections: number;
  /** SPEC §5.3: keep `%2F`/`%5C` encoded instead of refusing the request. */
  readonly allowEncodedSlashes: boolean;
  /** SPEC §5.6: forward client header names containing `_`. */
  readonly underscoresInHeaders: boolean;
  readonly keepAliveTimeoutSecs: number;
  readonly requestTimeoutMs: number;
  readonly shutdownGraceMs: number;
}

/** What the door answers itself before routing (SPEC §5.2 steps 6–9); null when switched off. */
export interface DoorAnswers {
  /** [metrics] endpoint when metrics are enabled. */
  readonly metricsPath: string | null;
  /** [metrics] host: metrics and probes are also answered for it when a rule or app claims it. */
  readonly metricsHost: string | null;
  /** [health] liveness and readiness paths when health checks are enabled. */
  readonly livenessPath: string | null;
  readonly readinessPath: string | null;
  /** [tls] force_https: the HTTPS port plain-HTTP requests are sent to (SPEC §5.2 step 9). */
  readonly forceHttpsPort: number | null;
}

/** [limits] websocket_* in the units the tunnel uses (SPEC §5.8). */
export interface WebSocketLimits {
  readonly idleMs: number;
  readonly lifetimeMs: number;
  readonly maxBytesPerDirection: number;
}

/** [circuit_breaker] in the units state/breakers.ts uses (SPEC §6.2). */
export interface BreakerSettings {
  readonly failureThreshold: number;
  readonly recoveryMs: number;
  readonly successThreshold: number;
  /** Upstream statuses that count as failures. */
  readonly failureStatusCodes: readonly number[];
  /** A half-open probe that never reported gives its permit out again after this long (request_timeout + 1 s). */
  readonly permitTimeoutMs: number;
}

export interface Snapshot {
  readonly version: number;
  readonly dev: boolean;
  readonly routes: RouteTable;
  readonly globalHeaders: readonly HeaderRule[];
  readonly trustedProxies: CidrSet;
  readonly metricsAllow: CidrSet;
  readonly limits: Limits;
  /** [rate_limiting] when enabled (SPEC §8). */
  readonly rateLimit: RateLimitSpec | null;
  /** Client headers never forwarded on any route: the JWT claim headers (SPEC §5.6 step 4). */
  readonly claimHeaders: ReadonlySet<string> | null;
  /** `Strict-Transport-Security` value for HTTPS responses, or null. */
  readonly hsts: string | null;
  readonly door: DoorAnswers;
  /** [logging] log_endpoints: one log line per request (SPEC §9). */
  readonly logEndpoints: boolean;
  readonly websocket: WebSocketLimits;
  /** Applied to the breakers at each swap (runtime/serving.ts); requests never read it. */
  readonly circuitBreaker: BreakerSettings;
  readonly files: { readonly conf: string; readonly toml: string; readonly dir: string };
}
