/**
 * Validated plain config → frozen Snapshot. Everything expensive or fallible is done here, once per
 * reload (ARCHITECTURE §3 step 3): regexes, host indexes, URL parts, header templates, CIDR sets.
 * Inputs must already have passed schema validation.
 */
import { canonicalHost, CidrSet, parseCidr, type Cidr } from "../lib/net.ts";
import { parseSize } from "../lib/size.ts";
import { endpointOf } from "../lib/endpoint.ts";
import { segmentHash } from "../lib/segment-hash.ts";
import type { AuthMaterial } from "./load-auth.ts";
import { globalRateLimit, parseRateLimit, PolicyCompiler } from "./compile-auth.ts";
import { matcherText, type HeaderOp, type ProxyConf, type Rule, type Target } from "./model.ts";
import { checkedTargetUrls, jsPattern, type TargetUrl, targetUrlParts, templatePart } from "./rule-checks.ts";
import type { Settings } from "./settings.ts";
import {
  HeaderVar,
  type HeaderRule,
  type Route,
  type RouteTable,
  type Snapshot,
  type TargetScheme,
  type TemplatePart,
  type Upstream,
  type UrlTemplate,
} from "./snapshot.ts";

/** limits.buffer_response_max when unset: 1 MiB. */
const DEFAULT_BUFFER_RESPONSE_MAX = 1024 * 1024;

export interface AppRouteInput {
  name: string;
  /** Every host the app answers for (domain, www., dev alias). */
  hosts: readonly string[];
  /** The serving slot's port; null while the app has none (stopped, starting, failed: 503, SPEC §14.9). */
  port: number | null;
}

export interface CompileInput {
  version: number;
  dev: boolean;
  conf: ProxyConf;
  settings: Settings;
  apps?: readonly AppRouteInput[];
  files: { conf: string; toml: string; dir: string };
  /** Key material read by the loader for [auth.jwt] (LoadedConfig.auth). */
  auth?: AuthMaterial | null;
}

export function compile(input: CompileInput): Snapshot {
  const { conf, settings } = input;
  const policies = new PolicyCompiler(settings, input.auth ?? null);
  const routes = compileRoutes(conf.rules, input.apps ?? [], conf.headers, policies);
  const hsts =
    settings.tls.hsts_max_age_seconds > 0
      ? `max-age=${settings.tls.hsts_max_age_seconds}${settings.tls.hsts_include_subdomains ? "; includeSubDomains" : ""}`
      : null;
  const snapshot: Snapshot = {
    version: input.version,
    dev: input.dev,
    routes,
    globalHeaders: compileHeaders(conf.headers),
    trustedProxies: cidrSet(settings.server.trusted_proxies),
    metricsAllow: cidrSet(settings.metrics.allow),
    rateLimit: globalRateLimit(settings),
    claimHeaders: policies.claimHeaders,
    limits: {
      maxRequestSize: settings.limits.max_request_size === undefined ? null : parseSize(settings.limits.max_request_size),
      bufferResponseMax: settings.limits.buffer_response_max === undefined ? DEFAULT_BUFFER_RESPONSE_MAX : parseSize(settings.limits.buffer_response_max)!,
      maxInFlight: settings.limits.max_in_flight ?? null,
      maxInFlightPerClient: settings.limits.max_in_flight_per_client,
      maxUpstreamConnections: settings.limits.max_upstream_connections,
      allowEncodedSlashes: settings.server.allow_encoded_slashes,
      underscoresInHeaders: settings.server.underscores_in_headers,
      keepAliveTimeoutSecs: settings.limits.keep_alive_timeout,
      requestTimeoutMs: settings.limits.request_timeout * 1000,
      shutdownGraceMs: settings.server.shutdown_grace_period * 1000,
    },
    hsts,
    door: {
      metricsPath: settings.metrics.enabled ? settings.metrics.endpoint : null,
      metricsHost: settings.metrics.host?.toLowerCase() ?? null,
      livenessPath: settings.health.enabled ? settings.health.liveness_path : null,
      readinessPath: settings.health.enabled ? settings.health.readiness_path : null,
      forceHttpsPort: settings.tls.force_https ? settings.server.https_port : null,
    },
    logEndpoints: settings.logging.log_endpoints,
    websocket: {
      idleMs: settings.limits.websocket_idle_timeout_secs * 1000,
      lifetimeMs: settings.limits.websocket_max_lifetime_secs * 1000,
      maxBytesPerDirection: settings.limits.websocket_max_bytes_per_direction,
    },
    circuitBreaker: {
      failureThreshold: settings.circuit_breaker.failure_threshold,
      recoveryMs: settings.circuit_breaker.recovery_timeout_secs * 1000,
      successThreshold: settings.circuit_breaker.success_threshold,
      failureStatusCodes: [...settings.circuit_breaker.failure_status_codes],
      permitTimeoutMs: settings.limits.request_timeout * 1000 + 1000,
    },
    files: input.files,
  };
  return freezeSnapshot(snapshot);
}

export function compileRoutes(
  rules: readonly Rule[],
  apps: readonly AppRouteInput[],
  globalHeaders: readonly HeaderOp[] = [],
  policies: PolicyCompiler | null = null,
): RouteTable {
  const domainPath = new Map<string, Route[]>();
  const domain = new Map<string, Route>();
  const paths: Route[] = [];
  let fallback: Route | null = null;
  const shared: SharedParts = { global: headerSet(mergeHeaders(compileHeaders(globalHeaders), [])), headerSets: new Map(), upstreams: new Map() };

  rules.forEach((rule, index) => {
    const route = compileRule(rule, index, shared, policies);
    switch (route.kind) {
      case "domain_path": {
        const host = unbracket((rule.matcher as { domain: string }).domain);
        const list = domainPath.get(host) ?? [];
        list.push(route);
        domainPath.set(host, list);
        break;
      }
      case "domain":
        if (!domain.has(route.value)) domain.set(route.value, route);
        break;
      case "default":
        fallback ??= route;
        break;
      default:
        paths.push(route);
    }
  });

  // Small tables are scanned whole: trying a handful of rules (a prefix check is a few ns) costs
  // less than hashing the request's first segment (~30–40 ns for a short one, bench/micro.ts).
  const segments = new Map<number, number[]>();
  const anySegment: number[] = [];
  paths.forEach((route, position) => {
    const segment = paths.length <= SCAN_WHOLE_TABLE ? null : firstSegmentOf(route);
    if (segment === null) return void anySegment.push(position);
    // Two segments with one hash share a list: every candidate is still matched in full.
    const key = segmentHash(segment, 0);
    const list = segments.get(key) ?? [];
    list.push(position);
    segments.set(key, list);
  });
  const bySegment = new Map<number, Int32Array>();
  for (const [key, list] of segments) bySegment.set(key, Int32Array.from(list));

  const appRoutes = new Map<string, Route>();
  const appAuth = policies?.forApp() ?? null;
  for (const app of apps) {
    const route = appRoute(app, shared, appAuth);
    for (const name of app.hosts) {
      const host = canonicalHost(name);
      if (!appRoutes.has(host)) appRoutes.set(host, route);
    }
  }

  return { domainPath, apps: appRoutes, domain, paths, bySegment, anySegment: Int32Array.from(anySegment), fallback };
}

/**
 * The first path segment every path this rule matches must have, or null when it can match any.
 * `/api/x` and `/api/*` → "api" (`/api/*` also matches `/api`); `/` → ""; `/*` → null; a regex
 * anchored on a literal first segment (`^/users/(\d+)`) → "users"; other regexes → null.
 */
export function firstSegmentOf(route: Route): string | null {
  if (route.kind === "exact" || route.kind === "prefix") {
    const v = route.value;
    const slash = v.indexOf("/", 1);
    if (slash < 0) return route.kind === "exact" ? v.slice(1) : null;
    return v.slice(1, slash);
  }
  if (route.kind === "regex" && route.regex) {
    // Only a literal run (letters, digits, `_~-`, escaped `.`) right after `^/` and closed by a `/`
    // that is not optional: `^/admin/?.*$` also matches `/admin.php` and `/administrator`, so
    // filing it under "admin" would change what it matches (issue 20). Anything cleverer
    // (alternation, quantifiers, classes) may match other segments.
    const source = route.regex.source;
    if (source.includes("|") || route.regex.flags.includes("i")) return null;
    const m = /^\^\\?\/((?:[A-Za-z0-9_~-]|\\[.~-])+)\\?\/(?![?*+{])/.exec(source);
    return m ? m[1]!.replace(/\\(.)/g, "$1") : null;
  }
  return null;
}

const SCAN_WHOLE_TABLE = 8;

/** Every route of the table, each once. */
export function allRoutes(table: RouteTable): Route[] {
  const routes = new Set<Route>(table.paths);
  for (const list of table.domainPath.values()) for (const r of list) routes.add(r);
  for (const r of table.domain.values()) routes.add(r);
  for (const r of table.apps.values()) routes.add(r);
  if (table.fallback) routes.add(table.fallback);
  return [...routes];
}

/**
 * What many routes of one compile have in common, built once and shared (they are read-only): the
 * global header block (a rule without its own block uses it), each distinct rule block merged with
 * it, and each distinct target (most rules of a large file name the same few backends).
 */
interface SharedParts {
  global: HeaderSet;
  /** By the rule block as JSON. */
  headerSets: Map<string, HeaderSet>;
  /** By URL, one entry per weight and kind (template or not). */
  upstreams: Map<string, Upstream[]>;
}

interface HeaderSet {
  headers: HeaderRule[];
  headerNames: Set<string>;
}

function headerSet(headers: HeaderRule[]): HeaderSet {
  return { headers, headerNames: new Set(headers.map((h) => h.name)) };
}

/** The rule's own `headers {}` block merged over the global one, built once per distinct block. */
function ruleHeaderSet(ops: readonly HeaderOp[], shared: SharedParts): HeaderSet {
  if (ops.length === 0) return shared.global;
  const key = JSON.stringify(ops);
  let set = shared.headerSets.get(key);
  if (set === undefined) {
    set = headerSet(mergeHeaders(shared.global.headers, compileHeaders(ops)));
    shared.headerSets.set(key, set);
  }
  return set;
}

function compileRule(rule: Rule, index: number, shared: SharedParts, policies: PolicyCompiler | null): Route {
  const m = rule.matcher;
  const { headers, headerNames } = ruleHeaderSet(rule.headers, shared);
  const kind = m.type;
  // Hosts are indexed the way requests are routed: lower-case, IPv6 without brackets (SPEC §5.3).
  const value = m.type === "default" ? "" : m.type === "domain_path" ? m.path : m.type === "domain" ? unbracket(m.value) : m.value;
  const regex = m.type === "regex" ? new RegExp(jsPattern(m.value)) : null;
  const targets = rule.targets.map((t) => sharedUpstream(t, regex !== null, shared.upstreams));
  return {
    key: matcherText(m),
    kind,
    value,
    regex,
    captures: targets.some((t) => t.template?.some((part) => typeof part !== "string") ?? false),
    targets,
    strategy: rule.load_balancing,
    redirect: rule.targets[0]?.url.startsWith("redirect:") ?? false,
    headers,
    headerNames,
    weighted: rule.load_balancing === "weighted" ? weightedSlots(rule.targets.map((t) => t.weight)) : null,
    index,
    app: null,
    auth: policies?.forRule(rule) ?? null,
    rateLimit: parseRateLimit(rule.options?.rate_limit),
  };
}

/** A rule's host as requests are compared (SPEC §5.3): no brackets, lower case, one trailing dot off. */
function unbracket(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1).toLowerCase() : canonicalHost(host);
}

function appRoute(app: AppRouteInput, shared: SharedParts, auth: Route["auth"]): Route {
  const { headers, headerNames } = shared.global;
  return {
    key: `app:${app.name}`,
    kind: "app",
    value: app.name,
    regex: null,
    captures: false,
    // No target while no slot serves: the host is still the app's, and answers 503 (SPEC §14.9).
    targets: app.port === null ? [] : [compileUpstream(`http://127.0.0.1:${app.port}/`, 100, false)],
    strategy: "round-robin",
    redirect: false,
    headers,
    headerNames,
    weighted: null,
    index: -1,
    app: app.name,
    auth,
    rateLimit: null,
  };
}

/**
 * The compiled target, the same object for every rule that names it with the same weight and kind.
 * Looked up by the URL string itself: its hash is computed once per string, where a key built per
 * target (`u100 http://…`) had to be joined and hashed again for every lookup (~200 ns, a tenth of
 * compiling 100 rules). Another weight or kind of a known URL copies its parts.
 */
function sharedUpstream(target: Target, isTemplate: boolean, seen: Map<string, Upstream[]>): Upstream {
  const { url: raw, weight } = target;
  const variants = seen.get(raw);
  if (variants === undefined) {
    const upstream = compileUpstream(raw, weight, isTemplate, checkedTargetUrls.get(target));
    seen.set(raw, [upstream]);
    return upstream;
  }
  for (const u of variants) if (u.weight === weight && (u.template !== null) === isTemplate) return u;
  const first = variants[0]!;
  const upstream = { ...first, weight, template: isTemplate ? (first.template ?? compileTemplate(templatePart(raw))) : null };
  variants.push(upstream);
  return upstream;
}

/** `parts`: the checks' parse of this URL (rule-checks.ts checkedTargetUrls), when there is one. */
export function compileUpstream(raw: string, weight: number, isTemplate: boolean, parts: TargetUrl = targetUrlParts(new URL(raw))): Upstream {
  const scheme = parts.scheme as TargetScheme;
  const secure = scheme === "https" || scheme === "wss";
  const defaultPort = secure ? 443 : 80;
  const port = parts.port === "" ? defaultPort : Number(parts.port);
  const hostname = parts.hostname.startsWith("[") ? parts.hostname.slice(1, -1) : parts.hostname;
  return {
    url: parts.normal,
    origin: `${scheme}://${parts.hostname}:${port}`,
    scheme,
    secure,
    hostname,
    port,
    authority: parts.host,
    path: parts.pathname === "" ? "/" : parts.pathname,
    query: parts.search.slice(1),
    endpoint: endpointOf({ hostname, port, secure }),
    template: isTemplate ? compileTemplate(templatePart(raw)) : null,
    weight,
  };
}

/** `/users/$1?x=${name}` → ["/users/", 1, "?x=", {name}]; `$$` becomes a literal `$`. */
export function compileTemplate(text: string): UrlTemplate {
  const parts: (string | number | { name: string })[] = [];
  let literal = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c !== "$" || next === undefined) {
      literal += c;
      continue;
    }
    if (next === "$") {
      literal += "$";
      i++;
      continue;
    }
    let ref: number | { name: string } | null = null;
    let end = i;
    if (next === "{") {
      const close = text.indexOf("}", i);
      if (close > 0) {
        const name = text.slice(i + 2, close);
        ref = /^\d+$/.test(name) ? Number(name) : { name };
        end = close;
      }
    } else if (next >= "0" && next <= "9") {
      let j = i + 1;
      while (j < text.length && text[j]! >= "0" && text[j]! <= "9") j++;
      ref = Number(text.slice(i + 1, j));
      end = j - 1;
    }
    if (ref === null) {
      literal += c;
      continue;
    }
    if (literal) parts.push(literal);
    literal = "";
    parts.push(ref);
    i = end;
  }
  if (literal) parts.push(literal);
  return parts;
}

/** The global block then the rule's, one entry per header name; a later entry replaces an earlier one. */
function mergeHeaders(globalRules: readonly HeaderRule[], ruleRules: readonly HeaderRule[]): HeaderRule[] {
  const merged = new Map<string, HeaderRule>();
  for (const list of [globalRules, ruleRules]) {
    for (const rule of list) {
      merged.delete(rule.name);
      merged.set(rule.name, rule);
    }
  }
  return [...merged.values()];
}

/**
 * SPEC §6.1 weighted order: weights divided by their GCD sum to T; request k goes to position
 * k·s mod T, where s is the integer coprime with T nearest to 0.618·T. Consecutive requests land
 * far apart in the cumulative ranges, which interleaves targets (7:3 → A B A A B A A B A A).
 * Null when every weight is 0 (the rule then behaves as failover).
 */
export function weightedSlots(weights: readonly number[]): { slots: Uint16Array; stride: number } | null {
  let divisor = 0;
  for (const w of weights) if (w > 0) divisor = divisor === 0 ? w : gcd(divisor, w);
  if (divisor === 0) return null;
  let total = 0;
  for (const w of weights) total += w / divisor;
  const slots = new Uint16Array(total);
  let at = 0;
  for (let i = 0; i < weights.length; i++) {
    for (let k = 0; k < weights[i]! / divisor; k++) slots[at++] = i;
  }
  return { slots, stride: strideFor(total) };
}

function gcd(a: number, b: number): number {
  while (b) {
    const rest = a % b;
    a = b;
    b = rest;
  }
  return a;
}

function strideFor(total: number): number {
  if (total === 1) return 1;
  const target = 0.618 * total;
  let best = 1;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (let s = 1; s < total; s++) {
    if (gcd(s, total) !== 1) continue;
    const d = Math.abs(s - target);
    if (d < bestDistance || (d === bestDistance && s > best)) {
      best = s;
      bestDistance = d;
    }
  }
  return best;
}

export function compileHeaders(ops: readonly HeaderOp[]): HeaderRule[] {
  return ops.map((op) => ({ name: op.name.toLowerCase(), value: op.value === null ? null : compileHeaderValue(op.value) }));
}

const VARS: Record<string, HeaderVar> = { client_ip: HeaderVar.ClientIp, scheme: HeaderVar.Scheme, host: HeaderVar.Host };

function compileHeaderValue(value: string): string | TemplatePart[] {
  const parts: TemplatePart[] = [];
  let literal = "";
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c !== "$") {
      literal += c;
      continue;
    }
    if (value[i + 1] === "$") {
      literal += "$";
      i++;
      continue;
    }
    const name = /^[A-Za-z_]+/.exec(value.slice(i + 1))?.[0] ?? "";
    const v = VARS[name];
    if (v === undefined) {
      literal += c;
      continue;
    }
    if (literal) parts.push(literal);
    literal = "";
    parts.push(v);
    i += name.length;
  }
  if (parts.length === 0) return literal;
  if (literal) parts.push(literal);
  return parts;
}

function cidrSet(list: readonly string[]): CidrSet {
  return new CidrSet(list.map((c) => parseCidr(c)).filter((c): c is Cidr => c !== null));
}

/**
 * Frozen where it is handed out: the snapshot and each of its records (limits, door, the route
 * table, …), one level deep. What lies below (routes, their arrays and maps, the parsed values) is
 * readonly by type only: JavaScriptCore moves a frozen array to a slower storage (freezing one took
 * ~1.8 µs and reading it became ~4× slower, Bun 1.4.5), and freezing every nested value was ~40%
 * of compiling 100 rules, freezing each route still ~20% (bench/config.ts).
 */
function freezeSnapshot(snapshot: Snapshot): Snapshot {
  for (const value of Object.values(snapshot)) {
    if (typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype) Object.freeze(value);
  }
  return Object.freeze(snapshot);
}

/** Freezes `value` and everything it holds, in place (the applied record's rules and settings). */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== "object" || Object.isFrozen(value)) return value;
  if (ArrayBuffer.isView(value)) return value; // typed arrays with elements cannot be frozen
  // A frozen RegExp loses JavaScriptCore's fast test() (~3× slower, bench/micro.ts "regex match").
  // Its one mutable property, lastIndex, is never read for these non-global, non-sticky patterns.
  if (value instanceof RegExp) return value;
  if (value instanceof CidrSet || value instanceof Set) return Object.freeze(value);
  if (value instanceof Map) {
    for (const v of value.values()) deepFreeze(v);
    // Maps cannot be frozen in place; the snapshot's types expose them as ReadonlyMap.
    return value;
  }
  // Indexed and keyed walks instead of Object.values(): no array per object.
  Object.freeze(value); // first, so that a cycle ends at the isFrozen check
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) deepFreeze(value[i]);
  } else {
    for (const key in value) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
