/**
 * The compiled, frozen configuration the request path reads (ARCHITECTURE §3). Everything here is
 * computed once per reload: regexes, host indexes, URL parts, header templates, CIDR sets, limits
 * in the units the code uses. The request path only looks things up.
 *
 * This is the only config file the request path imports.
 */
import type { CidrSet } from "../lib/net.ts";
import type { Endpoint } from "../lib/endpoint.ts";
import type { LbStrategy, ProxyConf } from "./model.ts";
import type { Settings } from "./settings.ts";

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
   * `~^/api/…` all under "api"), each list in file order; so a request looks at the rules of its
   * own first segment, not at all of them.
   */
  readonly bySegment: ReadonlyMap<string, Int32Array>;
  /** Positions of rules that can match any first segment (`/*`, unanchored regexes), in file order. */
  readonly anySegment: Int32Array;
  /** The first default rule (step 5). */
  readonly fallback: Route | null;
}

export interface Limits {
  readonly maxRequestSize: number | null;
  readonly maxInFlight: number | null;
  readonly keepAliveTimeoutSecs: number;
  readonly requestTimeoutMs: number;
  readonly shutdownGraceMs: number;
}

export interface Snapshot {
  readonly version: number;
  readonly dev: boolean;
  readonly conf: ProxyConf;
  readonly settings: Settings;
  readonly routes: RouteTable;
  readonly globalHeaders: readonly HeaderRule[];
  readonly trustedProxies: CidrSet;
  readonly metricsAllow: CidrSet;
  readonly limits: Limits;
  /** `Strict-Transport-Security` value for HTTPS responses, or null. */
  readonly hsts: string | null;
  readonly files: { readonly conf: string; readonly toml: string; readonly dir: string };
}
