/**
 * Rule JSON (SPEC §11.3) in and out of the admin API: defaults on input, the same schema as a
 * proxy.conf line, and hashes that never leave the process. On a replacing write an empty hash
 * means "keep the stored one" for the same user name.
 */
import type { z } from "zod";
import { impliedStrategy, matcherText, type BasicUser, type HeaderOp, type Matcher, type ProxyConf, type Rule } from "./model.ts";
import { proxyConfSchema, ruleSchema } from "./schema.ts";

export type RuleInputResult = { ok: true; rule: Rule } | { ok: false; error: string };

/**
 * Validates one rule sent as JSON. `replacing` is the stored rule it replaces (PUT), whose hashes
 * fill in empty ones of the same user name.
 */
export function parseRuleInput(input: unknown, replacing?: Rule | null): RuleInputResult {
  const prepared = prepareRule(input, replacing ?? null);
  const result = ruleSchema.safeParse(prepared);
  if (!result.success) return { ok: false, error: issueText(result.error) };
  return { ok: true, rule: normalizeRule(result.data as Rule) };
}

/**
 * Validates a whole `{"rules":[…], "headers"?:[…]}` body (PUT /config). Each rule keeps the hashes
 * of the stored rule with the same source (the k-th rule of a source matches the k-th stored one);
 * without `headers` the stored global headers stay.
 */
export function parseConfInput(input: unknown, stored: ProxyConf): { ok: true; conf: ProxyConf; origins: (number | null)[] } | { ok: false; error: string } {
  if (!isObject(input) || !Array.isArray(input.rules)) return { ok: false, error: 'expected an object with a "rules" array' };
  const origins = matchOrigins(input.rules, stored.rules);
  const rules = input.rules.map((r, j) => prepareRule(r, origins[j] === null ? null : stored.rules[origins[j]!]!));
  const headers = input.headers === undefined ? stored.headers : restoreHeaders(input.headers, stored.headers);
  const result = proxyConfSchema.safeParse({ headers, rules });
  if (!result.success) return { ok: false, error: issueText(result.error) };
  const conf = result.data as ProxyConf;
  return { ok: true, conf: { headers: conf.headers as HeaderOp[], rules: conf.rules.map(normalizeRule) }, origins };
}

/**
 * The rule as the API shows it: every hash and `headers {}` value replaced by "" (SPEC §11.1,
 * §11.3): a header value may be an upstream `Authorization: Bearer …`.
 */
export function redactRule(rule: Rule): Rule {
  return { ...rule, auth: rule.auth.map((u) => ({ username: u.username, hash: "" })), headers: redactHeaders(rule.headers) };
}

/** `Name: value` operations with the value shown as ""; removals (`-Name`) stay as they are. */
export function redactHeaders(ops: readonly HeaderOp[]): HeaderOp[] {
  return ops.map((op) => ({ name: op.name, value: op.value === null ? null : "" }));
}

/**
 * An empty value sent back for a header the stored block sets means "keep the stored value", as
 * an empty hash does: what GET shows can be PUT back without wiping the values.
 */
function restoreHeaders(input: unknown, stored: readonly HeaderOp[]): unknown {
  if (!Array.isArray(input)) return input;
  return input.map((op) => {
    if (!isObject(op) || op.value !== "" || typeof op.name !== "string") return op;
    const name = op.name.toLowerCase();
    const kept = stored.find((s) => s.name.toLowerCase() === name && s.value !== null);
    return kept ? { ...op, value: kept.value } : op;
  });
}

/** The stored rule each input rule replaces, matched by source text in order of appearance. */
function matchOrigins(inputs: readonly unknown[], stored: readonly Rule[]): (number | null)[] {
  const free = new Map<string, number[]>();
  stored.forEach((rule, i) => {
    const key = matcherText(rule.matcher);
    free.set(key, [...(free.get(key) ?? []), i]);
  });
  return inputs.map((input) => {
    const key = isObject(input) ? tolerantMatcherText(input.matcher) : null;
    if (key === null) return null;
    return free.get(key)?.shift() ?? null;
  });
}

function tolerantMatcherText(matcher: unknown): string | null {
  if (!isObject(matcher) || typeof matcher.type !== "string") return null;
  try {
    const text = matcherText(matcher as unknown as Matcher);
    return typeof text === "string" && !text.includes("undefined") ? text : null;
  } catch {
    return null;
  }
}

/** Defaults of SPEC §11.3 and the stored hashes for empty ones; anything else is left to the schema. */
function prepareRule(input: unknown, replacing: Rule | null): unknown {
  if (!isObject(input)) return input;
  const out: Record<string, unknown> = { auth: [], headers: [], options: null, ...input };
  if (out.load_balancing === undefined && Array.isArray(input.targets)) {
    const targets = input.targets.map((t) => ({ url: "", weight: isObject(t) && typeof t.weight === "number" ? t.weight : 100 }));
    out.load_balancing = impliedStrategy(targets);
  }
  if (replacing) out.headers = restoreHeaders(out.headers, replacing.headers);
  if (Array.isArray(out.auth) && replacing) {
    out.auth = out.auth.map((u) => {
      if (!isObject(u) || (u.hash !== "" && u.hash !== undefined)) return u;
      const stored = replacing.auth.find((s: BasicUser) => s.username === u.username);
      return stored ? { ...u, hash: stored.hash } : u;
    });
  }
  return out;
}

/** An option block without keys is no option block: proxy.conf cannot tell them apart. */
function normalizeRule(rule: Rule): Rule {
  const options = rule.options && Object.values(rule.options).some((v) => v !== undefined) ? rule.options : null;
  return { ...rule, options };
}

function issueText(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const path = i.path.map(String).join(".");
      // The discriminator's message names the type itself (SPEC §11.3: "unknown matcher type: <t>").
      return path === "" || path.endsWith("matcher.type") ? i.message : `${path}: ${i.message}`;
    })
    .join("; ");
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
