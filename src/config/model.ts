/**
 * The plain-object form of proxy.conf: what the arrow syntax is parsed into, what the admin API
 * reads and writes as JSON (SPEC §11.3), and what zod validates. It carries no compiled state.
 */

export type LbStrategy = "round-robin" | "weighted" | "failover";
export const LB_STRATEGIES: readonly LbStrategy[] = ["round-robin", "weighted", "failover"];

export type Matcher =
  | { type: "default" }
  | { type: "exact" | "prefix" | "regex" | "domain"; value: string }
  | { type: "domain_path"; domain: string; path: string };

export interface Target {
  url: string;
  weight: number;
}

/** `value: null` removes the header upstream (`-Name` in proxy.conf). */
export interface HeaderOp {
  name: string;
  value: string | null;
}

export interface BasicUser {
  username: string;
  hash: string;
}

export type AuthKind = "basic" | "api_key" | "jwt" | "none";

/** A route option block (`SOURCE { key: value }`, SPEC §3.6). */
export interface RouteOptions {
  auth?: string;
  realm?: string;
  keys?: string[];
  /** As written: `10/s`, `600/m burst 20`. */
  rate_limit?: string;
}

export interface Rule {
  matcher: Matcher;
  targets: Target[];
  load_balancing: LbStrategy;
  auth: BasicUser[];
  headers: HeaderOp[];
  options: RouteOptions | null;
}

export interface ProxyConf {
  /** The global `headers {}` block: applies to every rule and managed app. */
  headers: HeaderOp[];
  rules: Rule[];
}

/** The text a rule's source is written as (SPEC §3.9); also the rule's identity for state and metrics. */
export function matcherText(m: Matcher): string {
  switch (m.type) {
    case "default":
      return "default";
    case "exact":
      return m.value;
    case "prefix":
      return `${m.value}*`;
    case "regex":
      return `~${m.value}`;
    case "domain":
      return m.value;
    case "domain_path":
      return `${m.domain}${m.path}*`;
  }
}

/** SPEC §3.3: `weighted` when any target has a weight other than the default, else round-robin. */
export function impliedStrategy(targets: readonly Target[]): LbStrategy {
  return targets.some((t) => t.weight !== 100) ? "weighted" : "round-robin";
}
