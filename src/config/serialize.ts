/**
 * Rules → proxy.conf text (SPEC §3.9), for admin writes. A rule is one line (`SOURCE -> TARGETS
 * @lb @auth`), followed by its `headers {}` and option blocks indented by four spaces; the global
 * headers block comes first.
 *
 * Given the file being replaced, the write keeps that file's layout: rules the write does not
 * change keep their exact text (comments, blank lines, continuations, their own blocks), a changed
 * rule keeps the comment block directly above it, and a deleted rule takes its comment block with
 * it. Whatever is produced is parsed back and compared with the rules asked for; a layout that
 * would read back differently falls back to the canonical form, and rules that no proxy.conf can
 * express are refused with the reason.
 */
import { hasErrors, formatIssue } from "./issues.ts";
import { validateProxyConfText } from "./load.ts";
import { impliedStrategy, matcherText, type HeaderOp, type ProxyConf, type Rule, type RouteOptions } from "./model.ts";
import { logicalLines, parseProxyConf, type RuleSpan } from "./syntax.ts";

export interface PreviousFile {
  /** The text of the file being replaced; it must be a valid proxy.conf. */
  text: string;
  /** Its validated rules (what the running snapshot holds). */
  conf: ProxyConf;
  /** For each rule of the new conf, the index of the previous rule it replaces, or null for a new rule. */
  origins: readonly (number | null)[];
}

export type SerializeResult = { ok: true; text: string } | { ok: false; error: string };

const INDENT = "    ";

/**
 * The proxy.conf text for `conf` (validated rules), keeping the layout of `previous` where it can.
 * Fails only when `conf` cannot be written as proxy.conf (e.g. two rules with the same source
 * but different options, or a value the line syntax cannot carry).
 */
export function serializeProxyConf(conf: ProxyConf, previous?: PreviousFile): SerializeResult {
  if (previous) {
    const kept = readsBackAs(serializeKeepingLayout(conf, previous), conf);
    if (kept.ok) return kept;
  }
  return readsBackAs(canonical(conf, previous), conf);
}

/** One rule as a proxy.conf line (SPEC §3.9). */
export function ruleLine(rule: Rule): string {
  const targets = rule.targets.map((t) => (t.weight !== 100 ? `weight:${t.weight} ${t.url}` : t.url)).join(", ");
  const lb = rule.load_balancing !== impliedStrategy(rule.targets) ? ` @lb:${rule.load_balancing}` : "";
  const users = rule.auth.map((u) => ` @auth:${u.username}:${u.hash}`).join("");
  return `${matcherText(rule.matcher)} -> ${targets}${lb}${users}`;
}

function headerLines(ops: readonly HeaderOp[]): string[] {
  if (ops.length === 0) return [];
  return ["headers {", ...ops.map((h) => INDENT + (h.value === null ? `-${h.name}` : `${h.name}: ${h.value}`)), "}"];
}

function optionLines(source: string, options: RouteOptions | null): string[] {
  if (!options) return [];
  const body: string[] = [];
  if (options.auth !== undefined) body.push(`auth: ${options.auth}`);
  if (options.realm !== undefined) body.push(`realm: "${options.realm}"`);
  if (options.keys !== undefined) body.push(`keys: ${options.keys.join(", ")}`);
  if (options.rate_limit !== undefined) body.push(`rate_limit: ${options.rate_limit}`);
  return body.length ? [`${source} {`, ...body.map((l) => INDENT + l), "}"] : [];
}

/** The rule line, its headers block and (unless its source already has one) its option block. */
function ruleBlock(rule: Rule, optionSources: Set<string>): string[] {
  const source = matcherText(rule.matcher);
  const lines = [ruleLine(rule), ...headerLines(rule.headers)];
  if (rule.options && !optionSources.has(source)) {
    const options = optionLines(source, rule.options);
    if (options.length) optionSources.add(source);
    lines.push(...options);
  }
  return lines;
}

/** Everything written fresh, keeping only the comment block above each rule that has an origin. */
function canonical(conf: ProxyConf, previous?: PreviousFile): string {
  const old = previous ? previousLayout(previous.text) : null;
  const out = headerLines(conf.headers);
  const optionSources = new Set<string>();
  conf.rules.forEach((rule, j) => {
    const origin = previous?.origins[j];
    if (old && origin !== null && origin !== undefined) out.push(...old.leadComments(origin));
    out.push(...ruleBlock(rule, optionSources));
  });
  return out.map((l) => l + "\n").join("");
}

function readsBackAs(text: string, conf: ProxyConf): SerializeResult {
  const back = validateProxyConfText(text, "proxy.conf");
  if (hasErrors(back.issues) || !back.conf) {
    const first = back.issues.find((i) => i.severity === "error");
    return { ok: false, error: `cannot be written as proxy.conf: ${first ? formatIssue(first) : "it does not parse back"}` };
  }
  if (!Bun.deepEquals(back.conf.headers, conf.headers)) return { ok: false, error: "the global headers cannot be written as proxy.conf" };
  if (back.conf.rules.length !== conf.rules.length)
    return { ok: false, error: "cannot be written as proxy.conf: the rules read back as a different number of rules" };
  for (let i = 0; i < conf.rules.length; i++) {
    if (Bun.deepEquals(back.conf.rules[i], conf.rules[i])) continue;
    const rule = conf.rules[i]!;
    const sameSource = conf.rules.findIndex((r, k) => k !== i && matcherText(r.matcher) === matcherText(rule.matcher));
    const why =
      sameSource >= 0 && !Bun.deepEquals(conf.rules[sameSource]!.options, rule.options)
        ? `rules ${Math.min(i, sameSource)} and ${Math.max(i, sameSource)} share the source '${matcherText(rule.matcher)}' but have different options (an option block applies to every rule with its source)`
        : `rule ${i} ('${ruleLine({ ...rule, auth: [] })}') would read back differently`;
    return { ok: false, error: `cannot be written as proxy.conf: ${why}` };
  }
  return { ok: true, text };
}

/** A range of physical lines, 1-based and inclusive. */
interface Range {
  from: number;
  to: number;
}

interface Layout {
  lines: string[];
  spans: RuleSpan[];
  globalBlocks: Range[];
  optionBlocks: (Range & { source: string })[];
  leadComments(rule: number): string[];
}

/** Where the rules, the global headers blocks and the option blocks of a valid file are. */
function previousLayout(text: string): Layout {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const { spans } = parseProxyConf(text);
  const globalBlocks: Range[] = [];
  const optionBlocks: (Range & { source: string })[] = [];
  let open: { from: number; kind: "global" | "rule" | "options"; source: string } | null = null;
  let rulesSeen = 0;
  for (const l of logicalLines(text)) {
    const t = l.text;
    if (t === "" || t.startsWith("#")) continue;
    if (open) {
      if (t === "}") {
        if (open.kind === "global") globalBlocks.push({ from: open.from, to: l.endLine });
        if (open.kind === "options") optionBlocks.push({ from: open.from, to: l.endLine, source: open.source });
        open = null;
      }
      continue;
    }
    if (t.includes("->")) rulesSeen++;
    else if (/^headers\s*\{$/.test(t)) open = { from: l.line, kind: rulesSeen === 0 ? "global" : "rule", source: "" };
    else if (t.endsWith("{")) open = { from: l.line, kind: "options", source: t.slice(0, -1).trim() };
  }
  const leadComments = (rule: number): string[] => {
    const span = spans[rule];
    return span ? lines.slice(span.leadLine - 1, span.line - 1) : [];
  };
  return { lines, spans, globalBlocks, optionBlocks, leadComments };
}

function serializeKeepingLayout(conf: ProxyConf, previous: PreviousFile): string {
  const old = previousLayout(previous.text);
  const eol = previous.text.includes("\r\n") ? "\r\n" : "\n";
  const oldRules = previous.conf.rules;
  const n = old.spans.length;
  const untouched = conf.rules.map((rule, j) => {
    const origin = previous.origins[j];
    return origin !== null && origin !== undefined && Bun.deepEquals(rule, oldRules[origin]);
  });
  const alive = new Set(previous.origins.filter((o): o is number => o !== null));

  // An existing option block stays only while every rule it applies to is one we keep as written.
  const sourceOf = (j: number) => (untouched[j] ? old.spans[previous.origins[j]!]!.source : matcherText(conf.rules[j]!.matcher));
  const keptSources = new Set<string>();
  for (const block of old.optionBlocks) {
    const attached = conf.rules.map((_, j) => j).filter((j) => sourceOf(j) === block.source);
    if (attached.length > 0 && attached.every((j) => untouched[j])) keptSources.add(block.source);
  }
  const globalChanged = !Bun.deepEquals(conf.headers, previous.conf.headers);
  const dropped = new Set<number>();
  for (const block of old.optionBlocks) if (!keptSources.has(block.source)) addRange(dropped, block);
  if (globalChanged) for (const block of old.globalBlocks) addRange(dropped, block);

  const out: string[] = [];
  const globalAt = globalChanged ? (old.globalBlocks[0]?.from ?? 0) : -1;
  const emit = (range: Range, trimLeadingBlanks = false) => {
    let skipping = trimLeadingBlanks && (out.length === 0 || out[out.length - 1]!.trim() === "");
    for (let line = range.from; line <= Math.min(range.to, old.lines.length); line++) {
      if (line === globalAt) out.push(...headerLines(conf.headers));
      if (dropped.has(line)) continue;
      const text = old.lines[line - 1] ?? "";
      if (skipping && text.trim() === "") continue;
      skipping = false;
      out.push(text);
    }
  };
  const gapAfter = (i: number): Range => ({ from: old.spans[i]!.endLine + 1, to: i + 1 < n ? old.spans[i + 1]!.leadLine - 1 : old.lines.length });

  // Before the first rule: file comments and the global headers block, rewritten where the first
  // one was (or just before the first rule) if it changed.
  const preamble: Range = { from: 1, to: n > 0 ? old.spans[0]!.leadLine - 1 : old.lines.length };
  emit(preamble);
  if (globalChanged && globalAt === 0) out.push(...headerLines(conf.headers));

  // Gaps (blank lines, loose comments, option blocks) stay after the rule they followed; those of
  // deleted rules move to the previous surviving rule.
  const gapsAfter = new Map<number, number[]>();
  let lastAlive = -1;
  for (let i = 0; i < n; i++) {
    if (alive.has(i)) lastAlive = i;
    const list = gapsAfter.get(lastAlive) ?? [];
    list.push(i);
    gapsAfter.set(lastAlive, list);
  }
  const emitGaps = (owner: number) => {
    for (const i of gapsAfter.get(owner) ?? []) emit(gapAfter(i), !alive.has(i));
  };
  emitGaps(-1);

  const optionSources = new Set(keptSources);
  conf.rules.forEach((rule, j) => {
    const origin = previous.origins[j];
    if (origin === null || origin === undefined) {
      out.push(...ruleBlock(rule, optionSources));
      return;
    }
    const span = old.spans[origin]!;
    if (untouched[j]) {
      emit({ from: span.leadLine, to: span.endLine });
    } else {
      out.push(...old.leadComments(origin));
      out.push(...ruleBlock(rule, optionSources));
      // Option blocks of other rules that happened to sit inside this rule's lines stay.
      for (const block of old.optionBlocks) {
        if (block.from > span.line && block.to <= span.endLine && keptSources.has(block.source)) emit(block);
      }
    }
    emitGaps(origin);
  });
  return out.map((l) => l + eol).join("");
}

function addRange(set: Set<number>, range: Range): void {
  for (let line = range.from; line <= range.to; line++) set.add(line);
}
