/**
 * Rules that can never match (SPEC §3.7 warnings): routing takes the first match within each
 * group of SPEC §5.3, so a rule is dead when an earlier rule of its group always wins for every
 * request it could match. Only certain cases are reported (same source twice, a prefix under an
 * earlier prefix, an exact path or an anchored regex inside an earlier prefix); a warning never
 * rejects the file.
 */
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
