/**
 * The value checks of proxy.conf's rules and header blocks (SPEC §3.2–§3.7), written once for both
 * doors. A JSON write through the admin API has an unknown shape, so schema.ts checks it with zod
 * and calls these checks from its refinements. What parseProxyConf made has the right shape by
 * construction (every field present, strings where strings go), so `checkParsedConf` runs the same
 * checks on it directly: walking 100 parsed rules through zod took ~600 µs (bench/config.ts), most
 * of a reload. test/config/rule-checks.test.ts holds the two to the same issues, in the same order.
 *
 * No zod here: the request path's compile (and the worker processes) import these helpers.
 */
import { isHeaderName, isHeaderValue, REFUSED_BLOCK_HEADERS } from "../lib/headers.ts";
import {
  LB_STRATEGIES,
  type BasicUser,
  type HeaderOp,
  type LbStrategy,
  type Matcher,
  type ProxyConf,
  type RouteOptions,
  type Rule,
  type Target,
} from "./model.ts";

export const TARGET_SCHEMES: ReadonlySet<string> = new Set(["http", "https", "ws", "wss", "redirect"]);
export const HEADER_VARIABLES: ReadonlySet<string> = new Set(["client_ip", "scheme", "host"]);
const BCRYPT = /^\$2[aby]\$(0[4-9]|1[0-3])\$[./A-Za-z0-9]{53}$/;
export const RATE_LIMIT = /^(\d+(?:\.\d+)?)\s*\/\s*(s|m)(?:\s+burst\s+(\d+))?$/;
const AUTH_VALUES: ReadonlySet<string> = new Set(["basic", "api_key", "jwt", "none"]);
const STRATEGIES: ReadonlySet<string> = new Set(LB_STRATEGIES);

export const WEIGHT_MAX = 255;
export const WEIGHT_ERROR = "weight must be an integer from 0 to 255";
export const EMPTY_TARGETS_ERROR = "empty target list: a rule needs at least one target after '->'";
export const EXACT_ERROR = "an exact path must start with '/'";
export const PREFIX_ERROR = "a prefix must start and end with '/' (written '/p/*')";
export const HOST_PATH_ERROR = "a host path must look like '/p/'";
export const USERNAME_ERROR = "@auth needs a user name without ':' (@auth:USER:HASH)";
export const REALM_ERROR = "realm cannot contain quotes, backslashes or control characters";
export const lbError = (value: unknown) => `unknown @lb strategy '${String(value)}' (use round-robin, weighted or failover)`;
export const authValueError = (value: unknown) => `bad auth value '${String(value)}' (use basic, api_key, jwt or none)`;
export const rateLimitError = (value: unknown) => `bad rate_limit '${String(value)}' (expected N/s or N/m, optionally followed by 'burst M')`;

/** `(?P<name>` (Rust/Python) is accepted as JavaScript's `(?<name>` (SPEC §3.2). */
export function jsPattern(pattern: string): string {
  return pattern.includes("(?P<") ? pattern.replaceAll("(?P<", "(?<") : pattern;
}

export function regexError(pattern: string): string | null {
  try {
    new RegExp(jsPattern(pattern));
    return null;
  } catch (err) {
    return `invalid regex '${pattern}': ${(err as Error).message.replace(/^Invalid regular expression: /, "")}`;
  }
}

export function regexSourceError(pattern: string): string | null {
  return pattern === "" ? "empty regex" : regexError(pattern);
}

const BRACKETED_IP = /^\[[0-9a-fA-F:.]+\]$/;
const BRACKETED_WITH_PORT = /^\[.*\]:\d*$/;
const NAME_WITH_PORT = /^[^:[\]]+:\d*$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const DNS_LABEL = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$/i;

/** Why a host written as a rule source is not acceptable, or null when it is (SPEC §3.2). */
export function hostError(host: string): string | null {
  if (host === "") return "missing host";
  if (BRACKETED_IP.test(host)) return null;
  if (BRACKETED_WITH_PORT.test(host) || NAME_WITH_PORT.test(host)) {
    return `a rule source cannot include a port ('${host}'): routing ignores the port`;
  }
  if (IPV4.test(host)) {
    return host.split(".").every((o) => Number(o) <= 255) ? null : `invalid IPv4 address '${host}'`;
  }
  // One trailing dot is the same host (SPEC §5.3: rule hosts compare without it), as in a request.
  const name = host.length > 1 && host.endsWith(".") ? host.slice(0, -1) : host;
  const labels = name.split(".");
  const ok = name.length <= 253 && labels.every((l) => l.length > 0 && l.length <= 63 && DNS_LABEL.test(l));
  return ok ? null : `invalid host '${host}': use a DNS name or an IP address`;
}

export function hostPathError(path: string): string | null {
  return path.startsWith("/") && path.endsWith("/") && path.length > 1 ? null : HOST_PATH_ERROR;
}

const SPACE = /\s/;
const REDIRECT_HOST = /^[A-Za-z0-9.\-:[\]]+$/;

/** The target URL's parts, or why it is not acceptable (SPEC §3.3, §3.4): one URL parse serves the check and the compile. */
export function checkTargetUrl(raw: string): TargetUrl | string {
  if (raw === "") return "empty target (a stray comma?)";
  if (SPACE.test(raw)) return `target '${raw}' contains a space; comments must be on their own line`;
  if (raw.includes("#")) return `'#' is not allowed in target '${raw}'; comments must be on their own line`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `invalid target URL '${raw}'`;
  }
  const parts = targetUrlParts(url);
  const scheme = parts.scheme;
  if (!TARGET_SCHEMES.has(scheme)) {
    return `unsupported scheme '${scheme}:' in '${raw}' (use http, https, ws, wss or redirect)`;
  }
  if (parts.hostname === "") return `target '${raw}' has no host`;
  if (scheme === "redirect") {
    const host = raw.slice("redirect://".length).split(/[/?]/)[0] ?? "";
    if (!REDIRECT_HOST.test(host)) return `redirect host '${host}' may contain only letters, digits, '.', '-', ':', '[' and ']'`;
  }
  return parts;
}

/** WHATWG-normalized form (`http://h:1` → `http://h:1/`), keeping `${name}` readable for regex targets. */
function normalHref(href: string): string {
  return href.includes("$%7B") ? href.replace(/\$%7B(\w+)%7D/g, "$${$1}") : href;
}

/** What compile reads of a target URL: WHATWG's parts of it (URL's getters of the same names). */
export interface TargetUrl {
  /** The normal form, what a checked rule holds: WHATWG's href, `${name}` kept readable. */
  normal: string;
  /** Without the colon: `http`. */
  scheme: string;
  hostname: string;
  port: string;
  host: string;
  pathname: string;
  search: string;
}

/**
 * The parts are cut from `href`, the one getter read: each URL getter builds a new string, and
 * reading seven of them was about a fifth of the checks' time (bench/config.ts, 100 rules). An
 * href with an authority and no fragment is `scheme://[userinfo@]host[:port][path][?query]`, where
 * the userinfo, host and path hold no unescaped '/', '?' or '@' (WHATWG URL serializing); anything
 * else is read through the getters. test/config/rule-checks.test.ts holds both to the getters.
 */
export function targetUrlParts(url: URL): TargetUrl {
  const href = url.href;
  const colon = href.indexOf(":");
  const authorityStart = colon + 3;
  if (href.charCodeAt(colon + 1) !== 47 || href.charCodeAt(colon + 2) !== 47 || href.includes("#")) return targetUrlGetters(url);
  let authorityEnd = authorityStart;
  while (authorityEnd < href.length && href[authorityEnd] !== "/" && href[authorityEnd] !== "?") authorityEnd++;
  const userinfoEnd = href.lastIndexOf("@", authorityEnd - 1);
  const host = href.slice(userinfoEnd < authorityStart ? authorityStart : userinfoEnd + 1, authorityEnd);
  const portColon = host.indexOf(":", host.startsWith("[") ? host.indexOf("]") : 0);
  const query = href.indexOf("?", authorityEnd);
  return {
    normal: normalHref(href),
    scheme: href.slice(0, colon),
    hostname: portColon < 0 ? host : host.slice(0, portColon),
    port: portColon < 0 ? "" : host.slice(portColon + 1),
    host,
    pathname: href.slice(authorityEnd, query < 0 ? href.length : query),
    // `search` is "" for an empty query as for none.
    search: query < 0 || query === href.length - 1 ? "" : href.slice(query),
  };
}

/** The same parts read through URL's getters: for the hrefs targetUrlParts does not cut, and its test. */
export function targetUrlGetters(url: URL): TargetUrl {
  return {
    normal: normalHref(url.href),
    scheme: url.protocol.slice(0, -1),
    hostname: url.hostname,
    port: url.port,
    host: url.host,
    pathname: url.pathname,
    search: url.search,
  };
}

/**
 * The URL parts of each target checkParsedConf returned, so that compile does not parse a URL the
 * checks just parsed (it was a tenth of a reload, bench/config.ts). Keyed by the checked target
 * object: a conf from elsewhere (an admin API write, a worker's copy) is not in it and compile
 * parses its URLs itself. Weak, so that it holds nothing once the conf is dropped.
 */
export const checkedTargetUrls = new WeakMap<Target, TargetUrl>();

/** Group references in a regex target: `$1`, `${1}`, `${name}` (`$$` is a literal dollar). */
export function templateGroups(template: string): (number | string)[] {
  const refs: (number | string)[] = [];
  for (let i = 0; i < template.length; i++) {
    if (template[i] !== "$") continue;
    const next = template[i + 1];
    if (next === "$") {
      i++;
    } else if (next === "{") {
      const close = template.indexOf("}", i);
      if (close < 0) continue;
      const name = template.slice(i + 2, close);
      refs.push(/^\d+$/.test(name) ? Number(name) : name);
      i = close;
    } else if (next !== undefined && next >= "0" && next <= "9") {
      let j = i + 1;
      while (j < template.length && template[j]! >= "0" && template[j]! <= "9") j++;
      refs.push(Number(template.slice(i + 1, j)));
      i = j - 1;
    }
  }
  return refs;
}

/** The path-and-query part of a target URL as written, where regex substitution applies. */
export function templatePart(raw: string): string {
  const afterScheme = raw.indexOf("//");
  const slash = raw.indexOf("/", afterScheme + 2);
  const question = raw.indexOf("?", afterScheme + 2);
  const start = slash < 0 ? question : question < 0 ? slash : Math.min(slash, question);
  return start < 0 ? "" : raw.slice(start);
}

const VARIABLE_NAME = /^[A-Za-z_]+/;

function headerValueError(value: string): string | null {
  if (!isHeaderValue(value)) return "header value contains a control character";
  for (let i = value.indexOf("$"); i >= 0 && i < value.length; i = value.indexOf("$", i + 1)) {
    if (value[i + 1] === "$") {
      i++;
      continue;
    }
    const name = VARIABLE_NAME.exec(value.slice(i + 1))?.[0] ?? "";
    if (!HEADER_VARIABLES.has(name)) {
      return `unknown variable '$${name}' (use $client_ip, $scheme, $host, or $$ for a literal '$')`;
    }
    i += name.length;
  }
  return null;
}

/** Where a problem is, relative to the value checked (`["targets", 0, "url"]`), and what it is. */
export type AddProblem = (path: readonly (string | number)[], message: string) => void;

/** A `headers {}` entry (SPEC §3.5): a token name the proxy does not manage, and a value of known variables. */
export function headerOpProblems(op: HeaderOp, add: AddProblem): void {
  if (!isHeaderName(op.name)) add(["name"], `invalid header name '${op.name}'`);
  else if (REFUSED_BLOCK_HEADERS.has(op.name.toLowerCase())) {
    add(["name"], `header '${op.name}' cannot be changed in a headers block: the proxy manages it`);
  }
  const err = op.value === null ? null : headerValueError(op.value);
  if (err) add(["value"], err);
}

export function isAuthValue(value: string): boolean {
  return AUTH_VALUES.has(value);
}

export function usernameError(username: string): string | null {
  return username !== "" && !username.includes(":") ? null : USERNAME_ERROR;
}

export function realmError(realm: string): string | null {
  return /["\\\0-\x1f]/.test(realm) ? REALM_ERROR : null;
}

export function isRateLimit(text: string): boolean {
  return RATE_LIMIT.test(text) && Number(RATE_LIMIT.exec(text)?.[1]) > 0;
}

const GROUP_NAME = /\(\?<([A-Za-z_][A-Za-z0-9_]*)>/g;

/**
 * What is wrong with a rule as a whole, once each of its values passed: bcrypt hashes, targets
 * that mix redirects with upstreams, and regex targets naming groups the regex lacks.
 */
export function ruleProblems(rule: Rule, add: AddProblem): void {
  for (let i = 0; i < rule.auth.length; i++) {
    const u = rule.auth[i]!;
    if (!BCRYPT.test(u.hash)) {
      add(
        ["auth", i, "hash"],
        `bad @auth hash for user '${u.username}': expected a bcrypt hash ($2a$, $2b$ or $2y$, cost 04-13); make one with 'soli-proxy hash-password'`,
      );
    }
  }
  let redirects = 0;
  for (const t of rule.targets) if (t.url.startsWith("redirect:")) redirects++;
  if (redirects > 0 && redirects < rule.targets.length) add(["targets"], "a rule's targets must be all redirect:// or none of them");
  const m = rule.matcher;
  if (m.type !== "regex" || regexError(m.value) !== null) return;
  // Only worked out when a target refers to a group: most regex rules' targets are plain.
  let groups: { count: number; names: Set<string> } | null = null;
  for (let i = 0; i < rule.targets.length; i++) {
    for (const ref of templateGroups(templatePart(rule.targets[i]!.url))) {
      groups ??= regexGroups(m.value);
      const exists = typeof ref === "number" ? ref <= groups.count : groups.names.has(ref);
      if (!exists) {
        const { count, names } = groups;
        add(
          ["targets", i, "url"],
          `target refers to group '${ref}' which the regex does not have (it has ${count} group${count === 1 ? "" : "s"}${names.size ? `: ${[...names].join(", ")}` : ""})`,
        );
      }
    }
  }
}

function regexGroups(pattern: string): { count: number; names: Set<string> } {
  const js = jsPattern(pattern);
  const count = (new RegExp(js + "|").exec("")?.length ?? 1) - 1;
  return { count, names: new Set([...js.matchAll(GROUP_NAME)].map((m) => m[1]!)) };
}

/** One problem found by checkParsedConf: the dotted path of the value and the message. */
export interface ValueProblem {
  path: string;
  message: string;
}

/**
 * Checks what parseProxyConf made: the same checks, the same messages and paths, in the same order
 * as proxyConfSchema would report them, and the same result when there is none (a copy with each
 * target URL in its normal form, option keys in the schema's order). As with the schema, a rule's
 * whole-rule checks run only when none of its target URLs, weights' types or @lb failed.
 */
export function checkParsedConf(conf: ProxyConf): { conf: ProxyConf; problems: ValueProblem[] } {
  const checker = new ParsedConfChecker();
  const headers: HeaderOp[] = [];
  for (let i = 0; i < conf.headers.length; i++) headers.push(checker.headerOp(conf.headers[i]!, i));
  const rules: Rule[] = [];
  for (let i = 0; i < conf.rules.length; i++) rules.push(checker.rule(conf.rules[i]!, i));
  return { conf: { headers, rules }, problems: checker.problems };
}

/**
 * One walk over a parsed file: plain loops and one reporting function for the whole file, so that
 * checking a rule allocates nothing but its checked copy (and a path string per problem found).
 */
class ParsedConfChecker {
  readonly problems: ValueProblem[] = [];
  /** Each target URL as written: its parts, or why it is not acceptable. */
  private readonly urls = new Map<string, string | TargetUrl>();
  /**
   * The value being checked, problems are reported below it: rule `ruleIndex` (-1: the global
   * headers block), its header line `headerIndex` (-1: none). Kept as numbers and written as a
   * dotted path only when a problem is found: a path string per rule was paid by every valid file.
   */
  private ruleIndex = -1;
  private headerIndex = -1;
  private readonly addBelow: AddProblem = (path, message) => this.add(path.join("."), message);

  private add(path: string, message: string): void {
    const rule = this.ruleIndex < 0 ? "" : `rules.${this.ruleIndex}`;
    const at = this.headerIndex < 0 ? rule : rule === "" ? `headers.${this.headerIndex}` : `${rule}.headers.${this.headerIndex}`;
    this.problems.push({ path: `${at}.${path}`, message });
  }

  /** Header line `index` of the block being checked (the global one before any rule). */
  headerOp(op: HeaderOp, index: number): HeaderOp {
    this.headerIndex = index;
    headerOpProblems(op, this.addBelow);
    this.headerIndex = -1;
    return { name: op.name, value: op.value };
  }

  rule(rule: Rule, index: number): Rule {
    this.ruleIndex = index;
    // An issue zod does not let a rule's own checks continue past (a failed URL transform, a weight
    // that is no integer, an unknown @lb): the whole-rule checks are then skipped, as zod skips them.
    let stops = false;

    const matcher = this.matcher(rule.matcher);

    if (rule.targets.length === 0) this.add("targets", EMPTY_TARGETS_ERROR);
    const targets: Target[] = [];
    for (let i = 0; i < rule.targets.length; i++) {
      const t = rule.targets[i]!;
      // Most rules of a large file name the same few backends: each URL is parsed once.
      let checked = this.urls.get(t.url);
      const firstOfUrl = checked === undefined;
      if (checked === undefined) {
        checked = checkTargetUrl(t.url);
        this.urls.set(t.url, checked);
      }
      let url = t.url;
      if (typeof checked === "string") {
        this.add(`targets.${i}.url`, checked);
        stops = true;
      } else url = checked.normal;
      const w = t.weight;
      if (!Number.isInteger(w)) {
        this.add(`targets.${i}.weight`, WEIGHT_ERROR);
        stops = true;
      } else {
        // zod's int() then min() then max(): a weight beyond the safe integers fails two of them.
        if (!Number.isSafeInteger(w)) this.add(`targets.${i}.weight`, WEIGHT_ERROR);
        if (w < 0) this.add(`targets.${i}.weight`, WEIGHT_ERROR);
        if (w > WEIGHT_MAX) this.add(`targets.${i}.weight`, WEIGHT_ERROR);
      }
      const target: Target = { url, weight: w };
      // Compile meets each URL first in its first target, looks its parts up by it, and shares the
      // compiled target with the later ones (compile.ts sharedUpstream).
      if (firstOfUrl && typeof checked !== "string") checkedTargetUrls.set(target, checked);
      targets.push(target);
    }

    if (!STRATEGIES.has(rule.load_balancing)) {
      this.add("load_balancing", lbError(rule.load_balancing));
      stops = true;
    }

    const auth: BasicUser[] = [];
    for (let i = 0; i < rule.auth.length; i++) {
      const u = rule.auth[i]!;
      if (usernameError(u.username)) this.add(`auth.${i}.username`, USERNAME_ERROR);
      auth.push({ username: u.username, hash: u.hash });
    }
    const headers: HeaderOp[] = [];
    for (let i = 0; i < rule.headers.length; i++) headers.push(this.headerOp(rule.headers[i]!, i));
    const options = rule.options === null ? null : this.options(rule.options);

    const checked: Rule = { matcher, targets, load_balancing: rule.load_balancing as LbStrategy, auth, headers, options };
    if (!stops) ruleProblems(checked, this.addBelow);
    return checked;
  }

  private matcher(m: Matcher): Matcher {
    switch (m.type) {
      case "default":
        return { type: "default" };
      case "domain_path": {
        const hostErr = hostError(m.domain);
        if (hostErr) this.add("matcher.domain", hostErr);
        const pathErr = hostPathError(m.path);
        if (pathErr) this.add("matcher.path", pathErr);
        return { type: "domain_path", domain: m.domain, path: m.path };
      }
      default: {
        const err =
          m.type === "exact"
            ? m.value.startsWith("/")
              ? null
              : EXACT_ERROR
            : m.type === "prefix"
              ? m.value.startsWith("/") && m.value.endsWith("/")
                ? null
                : PREFIX_ERROR
              : m.type === "regex"
                ? regexSourceError(m.value)
                : hostError(m.value);
        if (err) this.add("matcher.value", err);
        return { type: m.type, value: m.value };
      }
    }
  }

  /** Keys in the schema's order; the parser never makes an empty `keys` entry (it drops them). */
  private options(o: RouteOptions): RouteOptions {
    const out: RouteOptions = {};
    if (o.auth !== undefined) {
      if (!isAuthValue(o.auth)) this.add("options.auth", authValueError(o.auth));
      out.auth = o.auth;
    }
    if (o.realm !== undefined) {
      if (realmError(o.realm)) this.add("options.realm", REALM_ERROR);
      out.realm = o.realm;
    }
    if (o.keys !== undefined) out.keys = [...o.keys];
    if (o.rate_limit !== undefined) {
      if (!isRateLimit(o.rate_limit)) this.add("options.rate_limit", rateLimitError(o.rate_limit));
      out.rate_limit = o.rate_limit;
    }
    return out;
  }
}
