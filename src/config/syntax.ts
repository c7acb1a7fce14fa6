/**
 * proxy.conf adapter: text → the plain ProxyConf object (SPEC §3), plus where every value came
 * from so that later validation can point at a line and column. This file decides structure
 * only; whether a value is acceptable is the schema's job (schema.ts), so the same rules apply
 * to a file and to a JSON write through the admin API.
 */
import { shadowedRules } from "./shadow.ts";
import type { HeaderOp, LbStrategy, Matcher, ProxyConf, Rule, RouteOptions, Target } from "./model.ts";
import type { ConfigIssue } from "./issues.ts";

export interface Position {
  line: number;
  column: number;
}

/**
 * Where each value of the plain object was written, looked up by dotted path
 * (`rules.2.targets.0.url`). A rule's own values are kept as offsets and turned into a Position
 * only when asked (an issue is being reported): building a string key and an object for each of
 * them up front was most of the parse time (bench/config.ts).
 */
export class PositionMap {
  private readonly fixed = new Map<string, Position>();
  private readonly rules: RuleOffsets[] = [];
  /** The global `headers {}` block's lines; a rule's own are in its RuleOffsets. */
  private readonly globalHeaders: HeaderLine[] = [];

  set(path: string, position: Position): void {
    this.fixed.set(path, position);
  }

  addRule(index: number, offsets: RuleOffsets): void {
    this.rules[index] = offsets;
  }

  /** A `headers {}` line of rule `owner`'s block, or of the global one (null). */
  addHeader(owner: number | null, header: HeaderLine): void {
    (owner === null ? this.globalHeaders : this.rules[owner]!.headers).push(header);
  }

  get(path: string): Position | undefined {
    const found = this.fixed.get(path);
    if (found) return found;
    if (path.startsWith("headers.")) return headerPosition(this.globalHeaders, path.slice(8).split("."));
    if (!path.startsWith("rules.")) return undefined;
    const dot = path.indexOf(".", 6);
    const rule = this.rules[Number(dot < 0 ? path.slice(6) : path.slice(6, dot))];
    if (!rule) return undefined;
    const keys = dot < 0 ? [] : path.slice(dot + 1).split(".");
    if (keys[0] === "headers") return headerPosition(rule.headers, keys.slice(1));
    const offset = ruleOffset(rule, keys);
    return offset === undefined ? undefined : { line: rule.line, column: rule.column + offset };
  }
}

/** Where a `Name: value` or `-Name` line of a headers block is, and its name and value in it. */
interface HeaderLine {
  line: number;
  column: number;
  name: number;
  value: number;
}

/** `N`, `N.name` or `N.value` in a list of header lines. */
function headerPosition(lines: readonly HeaderLine[], [index, key]: string[]): Position | undefined {
  const h = lines[Number(index)];
  if (!h) return undefined;
  const offset = key === undefined ? 0 : key === "name" ? h.name : key === "value" ? h.value : undefined;
  return offset === undefined ? undefined : { line: h.line, column: h.column + offset };
}

/** Offsets in a rule's logical line of the values parseRule read. */
interface RuleOffsets {
  line: number;
  column: number;
  value: number;
  path: number;
  targets: number;
  lb: number | null;
  auth: { offset: number; hash: number }[];
  pieces: { offset: number; url: number }[];
  headers: HeaderLine[];
}

function ruleOffset(rule: RuleOffsets, keys: string[]): number | undefined {
  const [head, second, third] = keys;
  const n = Number(second);
  switch (head) {
    case undefined:
    case "matcher":
      return second === "value" ? rule.value : second === "path" ? rule.path : second === undefined || second === "domain" ? 0 : undefined;
    case "load_balancing":
      return rule.lb ?? undefined;
    case "auth": {
      if (second === undefined) return undefined;
      const a = rule.auth[n];
      if (!a) return undefined;
      return third === undefined ? a.offset : third === "username" ? a.offset + 6 : third === "hash" ? a.hash : undefined;
    }
    case "targets": {
      if (second === undefined) return rule.targets;
      const t = rule.pieces[n];
      if (!t) return undefined;
      return third === undefined || third === "weight" ? t.offset : third === "url" ? t.url : undefined;
    }
    default:
      return undefined;
  }
}

export interface ParsedProxyConf {
  conf: ProxyConf;
  positions: PositionMap;
  issues: ConfigIssue[];
  /** First and last physical line of each rule, and the first line of the comment block above it. */
  spans: RuleSpan[];
}

export interface RuleSpan {
  /** First line of the comments and blank-free block directly above the rule (= line when none). */
  leadLine: number;
  line: number;
  endLine: number;
  /** The rule's source text as written; option blocks attach by it. */
  source: string;
}

interface LogicalLine {
  text: string;
  line: number;
  /** 1-based column of text[0] on `line`. */
  column: number;
  endLine: number;
}

const OPTION_KEYS = new Set(["auth", "realm", "keys", "rate_limit"]);
const HEADERS_OPEN = /^headers\s*\{$/;

/** Joins `\` continuations and trims, keeping the first physical line's number (SPEC §3.1). */
export function logicalLines(text: string): LogicalLine[] {
  // Split on "\n" and the "\r" of each "\r\n" taken off: a split on /\r?\n/ took twice as long.
  const physical = text.split("\n");
  for (let i = 0; i < physical.length - 1; i++) {
    const p = physical[i]!;
    if (p.charCodeAt(p.length - 1) === 13 /* \r */) physical[i] = p.slice(0, -1);
  }
  const out: LogicalLine[] = [];
  for (let i = 0; i < physical.length; i++) {
    const start = i;
    let last = physical[i] ?? "";
    let joined = last;
    if (last.endsWith("\\")) {
      // Pieces joined once at the end: appending to a growing string per continuation made a long
      // run of `\` lines quadratic (20,000 lines took a second; found by fuzzing).
      const pieces: string[] = [];
      while (last.endsWith("\\") && i + 1 < physical.length) {
        pieces.push(last.slice(0, -1));
        i++;
        last = (physical[i] ?? "").trim();
      }
      if (last.endsWith("\\") && i + 1 >= physical.length) last = last.slice(0, -1);
      pieces.push(last);
      joined = pieces.join("");
    }
    const trimmed = joined.trim();
    // Everything before the first character kept is white space, so that character's first
    // occurrence is where the text starts (no second trimmed copy to measure).
    const lead = trimmed === "" ? joined.length : joined.indexOf(trimmed[0]!);
    out.push({ text: trimmed, line: start + 1, column: lead + 1, endLine: i + 1 });
  }
  return out;
}

type Block = { kind: "headers"; owner: number | null; opened: LogicalLine } | { kind: "options"; source: string; opened: LogicalLine; options: PendingOptions };

interface PendingOptions {
  source: string;
  line: number;
  values: RouteOptions;
  positions: Map<string, Position>;
  used: boolean;
}

export function parseProxyConf(text: string, file = "proxy.conf"): ParsedProxyConf {
  const rules: Rule[] = [];
  const globalHeaders: HeaderOp[] = [];
  const positions = new PositionMap();
  const issues: ConfigIssue[] = [];
  const spans: RuleSpan[] = [];
  const sources: string[] = [];
  const optionBlocks: PendingOptions[] = [];
  let block: Block | null = null;
  let commentLead: number | null = null;

  const at = (l: LogicalLine, offset: number): Position => ({ line: l.line, column: l.column + offset });
  const issue = (severity: ConfigIssue["severity"], p: Position, message: string) => issues.push({ file, line: p.line, column: p.column, severity, message });

  for (const l of logicalLines(text)) {
    const t = l.text;
    if (t === "") {
      commentLead = null;
      continue;
    }
    if (t.startsWith("#")) {
      commentLead ??= l.line;
      continue;
    }
    const lead = commentLead ?? l.line;
    commentLead = null;

    if (t === "}") {
      if (!block) issue("error", at(l, 0), "'}' without an open block");
      else if (block.kind === "headers" && block.owner !== null) {
        const span = spans[block.owner];
        if (span) span.endLine = l.endLine;
      }
      block = null;
      continue;
    }

    const arrow = t.indexOf("->");
    if (block && arrow >= 0) {
      issue("error", at(block.opened, 0), `unterminated block: '}' missing before line ${l.line}`);
      block = null;
    }

    if (block?.kind === "headers") {
      const list = block.owner === null ? globalHeaders : rules[block.owner]!.headers;
      const op = parseHeaderLine(t);
      if (!op) {
        issue("error", at(l, 0), "expected 'Name: value' or '-Name' in a headers block");
        continue;
      }
      positions.addHeader(block.owner, { line: l.line, column: l.column, name: op.name === t ? 0 : t.startsWith("-") ? 1 : 0, value: op.valueOffset });
      list.push({ name: op.name, value: op.value });
      if (block.owner !== null) spans[block.owner]!.endLine = l.endLine;
      continue;
    }

    if (block?.kind === "options") {
      const colon = t.indexOf(":");
      if (colon <= 0) {
        issue("error", at(l, 0), "expected 'key: value' in a route block");
        continue;
      }
      const key = t.slice(0, colon).trim();
      const rawValue = t.slice(colon + 1).trim();
      const valueOffset = t.length - t.slice(colon + 1).trimStart().length;
      if (!OPTION_KEYS.has(key)) {
        issue("warning", at(l, 0), `unknown route option '${key}' ignored (known: auth, realm, keys, rate_limit)`);
        continue;
      }
      const value = unquote(rawValue);
      const opts = block.options;
      if (key === "keys")
        opts.values.keys = value
          .split(",")
          .map((k) => k.trim())
          .filter((k) => k !== "");
      else (opts.values as Record<string, string>)[key] = value;
      opts.positions.set(key, at(l, valueOffset));
      continue;
    }

    if (arrow < 0 && HEADERS_OPEN.test(t)) {
      const owner = rules.length === 0 ? null : rules.length - 1;
      const ownerRule = owner === null ? null : rules[owner]!;
      if (ownerRule && ownerRule.targets.length > 0 && ownerRule.targets.every((target) => target.url.startsWith("redirect:"))) {
        issue(
          "warning",
          at(l, 0),
          `this headers block belongs to the redirect rule on line ${spans[owner!]!.line} and has no effect there (a redirect is answered by the proxy, nothing goes upstream); move it above the first rule to make it global`,
        );
      }
      block = { kind: "headers", owner, opened: l };
      continue;
    }

    if (arrow >= 0) {
      const index = rules.length;
      const rule = parseRule(t, arrow, l, index, positions, issues, file);
      rules.push(rule.rule);
      sources.push(rule.source);
      spans.push({ leadLine: lead, line: l.line, endLine: l.endLine, source: rule.source });
      continue;
    }

    if (t.endsWith("{")) {
      const source = t.slice(0, -1).trim();
      if (source === "") {
        issue("error", at(l, 0), "a route block needs the rule source it applies to, e.g. '/api/* {'");
        continue;
      }
      const options: PendingOptions = { source, line: l.line, values: {}, positions: new Map(), used: false };
      optionBlocks.push(options);
      block = { kind: "options", source, opened: l, options };
      continue;
    }

    // SPEC §3.7: a line that is nothing known is an error, so a mistyped rule is never dropped quietly.
    issue("error", at(l, 0), t.includes("=>") ? "not a rule: the arrow is '->', not '=>'" : "not a rule (SOURCE -> TARGETS), a block line, a comment or blank");
  }

  if (block) issue("error", at(block.opened, 0), "unterminated block: '}' missing at end of file");

  // Option blocks attach to every rule with the identical source text, wherever they appear.
  for (const opts of optionBlocks) {
    sources.forEach((source, index) => {
      if (source !== opts.source) return;
      opts.used = true;
      const rule = rules[index]!;
      // A block that sets nothing leaves `options: null`, as the same rule written as JSON would
      // (rule-json.ts); an empty object would never read back from the serialized file.
      if (Object.keys(opts.values).length > 0) rule.options = { ...(rule.options ?? {}), ...opts.values };
      for (const [key, pos] of opts.positions) positions.set(`rules.${index}.options.${key}`, pos);
      positions.set(`rules.${index}.options`, { line: opts.line, column: 1 });
    });
    if (!opts.used) {
      issues.push({
        file,
        line: opts.line,
        column: 1,
        severity: "warning",
        message: `route block '${opts.source}' names no rule in this file`,
      });
    }
  }

  issues.push(...shadowedRules(rules, (i) => positions.get(`rules.${i}`), file));
  return { conf: { headers: globalHeaders, rules }, positions, issues, spans };
}

function parseRule(
  text: string,
  arrow: number,
  l: LogicalLine,
  index: number,
  positions: PositionMap,
  issues: ConfigIssue[],
  file: string,
): { rule: Rule; source: string } {
  const source = text.slice(0, arrow).trim();
  const at: RuleOffsets = {
    line: l.line,
    column: l.column,
    value: source.startsWith("~") ? 1 : 0,
    path: Math.max(0, source.indexOf("/")),
    targets: arrow + 2,
    lb: null,
    auth: [],
    pieces: [],
    headers: [],
  };
  positions.addRule(index, at);

  const targets: Target[] = [];
  const auth: Rule["auth"] = [];
  let lb: string | null = null;

  // The white-space separated tokens after the arrow, scanned in place. Non-directive tokens are
  // rejoined and split on commas; a piece is `[weight:N ]URL`.
  const pieces: { words: string[]; offset: number }[] = [];
  let current: { words: string[]; offset: number } | null = null;
  for (let start = nextToken(text, arrow + 2); start < text.length; start = nextToken(text, start)) {
    let end = start + 1;
    while (end < text.length && !isWhiteSpace(text.charCodeAt(end))) end++;
    const tok = text.slice(start, end);
    const tokOffset = start;
    start = end;
    if (tok.startsWith("@")) {
      const d = tok.slice(1);
      const colon = d.indexOf(":");
      const name = colon >= 0 ? d.slice(0, colon) : d;
      const value = colon >= 0 ? d.slice(colon + 1) : "";
      if (name === "lb") {
        lb = value;
        at.lb = tokOffset;
      } else if (name === "auth") {
        const sep = value.indexOf(":");
        at.auth.push({ offset: tokOffset, hash: tokOffset + 6 + Math.max(0, sep + 1) });
        auth.push(sep >= 0 ? { username: value.slice(0, sep), hash: value.slice(sep + 1) } : { username: value, hash: "" });
      } else {
        issues.push({ file, line: l.line, column: l.column + tokOffset, severity: "warning", message: `unknown directive '@${name}' ignored` });
      }
      continue;
    }
    if (!tok.includes(",")) {
      // Most tokens: a URL or a weight, no comma to split on.
      current ??= { words: [], offset: tokOffset };
      current.words.push(tok);
      continue;
    }
    let offset = tokOffset;
    const parts = tok.split(",");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (i > 0) {
        pieces.push(current ?? { words: [], offset });
        current = null;
      }
      if (part !== "") {
        current ??= { words: [], offset };
        current.words.push(part);
      }
      offset += part.length + 1;
    }
  }
  if (current) pieces.push(current);
  else if (pieces.length > 0) pieces.push({ words: [], offset: text.length });

  let explicitWeight = false;
  for (const piece of pieces) {
    const words = piece.words;
    let weight = 100;
    // The URL's words start after a `weight:N` word; nearly always it is one word, taken as is.
    let url = 0;
    if (words[0]?.startsWith("weight:")) {
      explicitWeight = true;
      weight = weightValue(words[0]);
      url = 1;
    }
    const urlOffset = words.length > url ? text.indexOf(words[url]!, piece.offset) : piece.offset;
    at.pieces.push({ offset: piece.offset, url: urlOffset });
    targets.push({ url: words.length === url + 1 ? words[url]! : words.slice(url).join(" "), weight });
  }

  const implied: LbStrategy = explicitWeight ? "weighted" : "round-robin";
  const rule: Rule = {
    matcher: parseSource(source),
    targets,
    load_balancing: (lb ?? implied) as LbStrategy,
    auth,
    headers: [],
    options: null,
  };
  return { rule, source };
}

/**
 * N of a `weight:N` word: digits only, else NaN (the checks report it). Read from the characters:
 * a slice and a regex test per weight were a cost of every weighted target.
 */
function weightValue(word: string): number {
  const digits = word.length - 7;
  if (digits === 0) return Number.NaN;
  let n = 0;
  for (let i = 7; i < word.length; i++) {
    const d = word.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return Number.NaN;
    n = n * 10 + d;
  }
  // Past 15 digits the sum may round differently from Number()'s reading.
  return digits > 15 ? Number(word.slice(7)) : n;
}

/** Where the next token starts at or after `from` (the text's length when there is none). */
function nextToken(text: string, from: number): number {
  let i = from;
  while (i < text.length && isWhiteSpace(text.charCodeAt(i))) i++;
  return i;
}

/** The characters `\s` matches in a JavaScript regular expression (white space and line terminators). */
function isWhiteSpace(code: number): boolean {
  if (code < 0x80) return code === 32 || (code >= 9 && code <= 13);
  return (
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/** SPEC §3.2. Shapes only; whether a host or a regex is valid is decided by the schema. */
export function parseSource(source: string): Matcher {
  if (source === "default" || source === "*") return { type: "default" };
  if (source.startsWith("~")) return { type: "regex", value: source.slice(1) };
  if (source.startsWith("/")) {
    if (source.endsWith("/*")) return { type: "prefix", value: source.slice(0, -1) };
    return { type: "exact", value: source };
  }
  const slash = source.indexOf("/");
  if (slash < 0) return { type: "domain", value: source.toLowerCase() };
  const host = source.slice(0, slash).toLowerCase();
  let path = source.slice(slash);
  if (path.endsWith("*")) path = path.slice(0, -1);
  if (path === "/" || path === "") return { type: "domain", value: host };
  if (!path.endsWith("/")) path += "/";
  return { type: "domain_path", domain: host, path };
}

function parseHeaderLine(t: string): { name: string; value: string | null; valueOffset: number } | null {
  if (t.startsWith("-")) {
    const name = t.slice(1).trim();
    return name && !/\s/.test(name) ? { name, value: null, valueOffset: 1 } : null;
  }
  const colon = t.indexOf(":");
  if (colon <= 0) return null;
  const name = t.slice(0, colon).trim();
  const after = t.slice(colon + 1);
  return { name, value: after.trim(), valueOffset: colon + 1 + (after.length - after.trimStart().length) };
}

function unquote(v: string): string {
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) return v.slice(1, -1).replace(/\\(["\\])/g, "$1");
  return v;
}
