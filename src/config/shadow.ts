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
  rules.forEach((rule, i) => {
    for (let j = 0; j < i; j++) {
      if (!alwaysWins(rules[j]!.matcher, rule.matcher)) continue;
      const pos = at(i);
      const winner = at(j);
      issues.push({
        file,
        ...(pos ?? {}),
        severity: "warning",
        message: `rule '${matcherText(rule.matcher)}' can never match: the rule '${matcherText(rules[j]!.matcher)}' on line ${winner?.line ?? "?"} comes first and always wins for the same requests`,
      });
      return;
    }
  });
  return issues;
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
