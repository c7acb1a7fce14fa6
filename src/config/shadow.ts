/**
 * Rules that can never match (SPEC §3.7 warnings): routing takes the first match within each
 * group of SPEC §5.3, so a rule is dead when an earlier rule of its group always wins for every
 * request it could match. Only certain cases are reported (same source twice, a prefix under an
 * earlier prefix, an exact path or an anchored regex inside an earlier prefix); a warning never
 * rejects the file.
 */
import { canonicalHost } from "../lib/net.ts";
import type { ConfigIssue } from "./issues.ts";
import { matcherText, type Matcher, type Rule } from "./model.ts";

/** Where each rule is written: its line and column (first physical line). */
export type RuleAt = (index: number) => { line: number; column: number } | undefined;

export function shadowedRules(rules: readonly Rule[], at: RuleAt, file: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const earlier = new EarlierRules();
  for (let i = 0; i < rules.length; i++) {
    const matcher = rules[i]!.matcher;
    const j = earlier.firstWinner(matcher);
    earlier.add(matcher, i);
    if (j === null) continue;
    const pos = at(i);
    const winner = at(j);
    issues.push({
      file,
      ...(pos ?? {}),
      severity: "warning",
      message: `rule '${matcherText(matcher)}' can never match: the rule '${matcherText(rules[j]!.matcher)}' on line ${winner?.line ?? "?"} comes first and always wins for the same requests`,
    });
  }
  return issues;
}

/**
 * The rules seen so far, indexed so that finding the first one that always wins over a later rule
 * costs a few map lookups instead of a walk over every earlier rule (that walk was quadratic: 28 ms
 * of a 1,000-rule reload, bench/config.ts). The answer is the same as trying `alwaysWins` on each
 * earlier rule in order: the lowest index among the candidates each lookup finds.
 */
class EarlierRules {
  /**
   * Exact paths, regexes and hosts by value, first index of each: the same source written twice.
   * (A prefix or host path written twice is found by the lookups below, as a prefix of itself.)
   * By value and kind rather than by the source's text: that text was a new string per rule,
   * joined and hashed only to be looked up.
   */
  private readonly sameValue = { exact: new Map<string, number>(), regex: new Map<string, number>(), domain: new Map<string, number>() };
  private firstDefault = Number.POSITIVE_INFINITY;
  /** Prefix rules by value (`/p/`), first index of each. */
  private readonly prefixes = new Map<string, number>();
  /** Host path rules: host → path (`/p/`) → first index. */
  private readonly hostPaths = new Map<string, Map<string, number>>();
  /**
   * Prefixes and host paths not ending in '/' (the parser never makes one) are not found by the
   * lookups below, so they are tried one by one.
   */
  private readonly odd: { matcher: Matcher; index: number }[] = [];

  add(matcher: Matcher, index: number): void {
    switch (matcher.type) {
      case "default":
        this.firstDefault = Math.min(this.firstDefault, index);
        break;
      case "exact":
      case "regex":
      case "domain": {
        const values = this.sameValue[matcher.type];
        if (!values.has(matcher.value)) values.set(matcher.value, index);
        break;
      }
      case "prefix":
        if (!matcher.value.endsWith("/")) this.odd.push({ matcher, index });
        else if (!this.prefixes.has(matcher.value)) this.prefixes.set(matcher.value, index);
        break;
      case "domain_path": {
        if (!matcher.path.endsWith("/")) return void this.odd.push({ matcher, index });
        let paths = this.hostPaths.get(matcher.domain);
        if (!paths) this.hostPaths.set(matcher.domain, (paths = new Map()));
        if (!paths.has(matcher.path)) paths.set(matcher.path, index);
      }
    }
  }

  /** The index of the first earlier rule that always wins over `later`, or null. */
  firstWinner(later: Matcher): number | null {
    let best = Number.POSITIVE_INFINITY;
    switch (later.type) {
      case "default":
        best = this.firstDefault;
        break;
      case "exact":
        best = Math.min(this.sameValue.exact.get(later.value) ?? best, containing(this.prefixes, later.value));
        break;
      case "prefix":
        best = containing(this.prefixes, later.value);
        break;
      case "regex": {
        best = this.sameValue.regex.get(later.value) ?? best;
        const lead = literalLead(later.value);
        if (lead !== null) best = Math.min(best, containing(this.prefixes, lead));
        break;
      }
      case "domain":
        best = this.sameValue.domain.get(later.value) ?? best;
        break;
      case "domain_path": {
        const paths = this.hostPaths.get(later.domain);
        if (paths) best = containing(paths, later.path);
      }
    }
    for (const { matcher, index } of this.odd) if (index < best && alwaysWins(matcher, later)) best = index;
    return best === Number.POSITIVE_INFINITY ? null : best;
  }
}

/**
 * The lowest index among the prefixes (each ending in '/') that `path` is under: `path` cut after
 * each of its slashes, and `path + "/"` (the prefix `/p/` also matches `/p`).
 */
function containing(prefixes: ReadonlyMap<string, number>, path: string): number {
  let best = prefixes.get(path + "/") ?? Number.POSITIVE_INFINITY;
  for (let slash = path.indexOf("/"); slash >= 0; slash = path.indexOf("/", slash + 1)) {
    const found = prefixes.get(path.slice(0, slash + 1));
    if (found !== undefined && found < best) best = found;
  }
  return best;
}

/** A managed app and the hosts it answers for (its domain, the `www.` form, a dev alias). */
export interface AppHosts {
  name: string;
  dir: string;
  hosts: readonly string[];
}

/**
 * Host rules a managed app shadows: apps are matched before host rules (SPEC §5.3), so a host rule
 * for an app's host never runs, and neither does its auth. Someone who writes
 * `shop.example.com -> … @auth:…` to protect an app would otherwise believe it protected.
 */
export function rulesShadowedByApps(rules: readonly Rule[], apps: readonly AppHosts[], at: RuleAt, file: string): ConfigIssue[] {
  const owner = new Map<string, AppHosts>();
  for (const app of apps) for (const host of app.hosts) if (!owner.has(canonicalHost(host))) owner.set(canonicalHost(host), app);
  const issues: ConfigIssue[] = [];
  rules.forEach((rule, i) => {
    if (rule.matcher.type !== "domain") return;
    const app = owner.get(canonicalHost(rule.matcher.value));
    if (!app) return;
    const guarded = rule.auth.length > 0 || rule.options?.auth !== undefined ? " (its auth protects nothing)" : "";
    issues.push({
      file,
      ...(at(i) ?? {}),
      severity: "warning",
      message: `rule '${matcherText(rule.matcher)}' can never match${guarded}: the managed app ${app.name} in ${app.dir} answers that host first (host+path rules such as '${canonicalHost(rule.matcher.value)}/admin/*' and the global [auth] policy do apply to it)`,
    });
  });
  return issues;
}

/** Whether the earlier matcher `first` matches every request `later` could match, in the same group. */
function alwaysWins(first: Matcher, later: Matcher): boolean {
  if (matcherText(first) === matcherText(later)) return true;
  if (first.type === "prefix") {
    if (later.type === "prefix" || later.type === "exact") return under(later.value, first.value);
    if (later.type === "regex") {
      const lead = literalLead(later.value);
      return lead !== null && under(lead, first.value);
    }
    return false;
  }
  if (first.type === "domain_path" && later.type === "domain_path") return first.domain === later.domain && under(later.path, first.path);
  return false;
}

/** `path` is inside the prefix `/p/` (which also matches `/p`); the exact `/p` counts too. */
function under(path: string, prefix: string): boolean {
  return path.startsWith(prefix) || path === prefix.slice(0, -1);
}

/**
 * The literal text an anchored regex requires at the start of the path (`^/api/users/(\d+)$` →
 * `/api/users/`), or null when it is not anchored or starts with something else. An alternation
 * anywhere makes the lead uncertain, so it counts as none.
 */
function literalLead(pattern: string): string | null {
  if (!pattern.startsWith("^") || pattern.includes("|")) return null;
  const lead = /^[^\\.^$|?*+()[\]{}]*/.exec(pattern.slice(1))?.[0] ?? "";
  // A quantifier right after the lead makes its last character optional.
  const next = pattern.charAt(1 + lead.length);
  const trimmed = next === "?" || next === "*" || next === "{" ? lead.slice(0, -1) : lead;
  return trimmed === "" ? null : trimmed;
}
