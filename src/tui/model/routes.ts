/**
 * The Routes screen's model: Rule JSON (SPEC §11.3) as table rows, and one line of proxy.conf
 * syntax (SPEC §3) typed by the user as the Rule JSON the routes API takes. The line goes through
 * the same adapter and schema as proxy.conf (config/syntax.ts via validateProxyConfText), so it is
 * judged exactly as the file would be, with the column of the mistake; the API checks it again.
 */
import { matcherText, type Rule } from "../../config/model.ts";
import { ruleLine } from "../../config/serialize.ts";
import { validateProxyConfText } from "../../config/load.ts";

export interface RouteRow {
  index: number;
  source: string;
  targets: string;
  lb: string;
  /** User names of the rule's Basic auth, and its option block's auth kind. */
  auth: string;
  /** The rule as one proxy.conf line (hashes empty: the API never shows them). */
  line: string;
}

export function routeRows(rules: readonly Rule[]): RouteRow[] {
  return rules.map((rule, index) => ({
    index,
    source: matcherText(rule.matcher),
    targets: rule.targets.map((t) => (t.weight !== 100 ? `weight:${t.weight} ${t.url}` : t.url)).join(", "),
    lb: rule.load_balancing,
    auth: [...rule.auth.map((u) => u.username), ...(rule.options?.auth ? [`(${rule.options.auth})`] : [])].join(" "),
    line: ruleLine(rule),
  }));
}

export type RouteInput = { ok: true; rule: Rule } | { ok: false; error: string };

/**
 * One typed line → the Rule JSON to POST or PUT. When it replaces `editing`, the rule keeps the
 * headers block and route options one line cannot carry; an `@auth:user:` with an empty hash keeps
 * that user's stored hash (the API fills it in, SPEC §11.3).
 */
export function parseRouteLine(line: string, editing: Rule | null = null): RouteInput {
  const text = line.trim();
  if (text === "") return { ok: false, error: "type a rule: SOURCE -> TARGETS" };
  if (text.endsWith("{") || text === "}") return { ok: false, error: "blocks cannot be typed here; edit proxy.conf for headers { } and option blocks" };
  // Parsed by the file's adapter and checked by the file's schema, so the message points at a
  // column. An empty hash is left to the API, which keeps the stored one on an edit.
  const { parsed, issues } = validateProxyConfText(text, "line");
  const error = issues.find((i) => i.severity === "error" && !(i.path?.endsWith(".hash") && emptyHash(parsed.conf.rules, i.path)));
  if (error) return { ok: false, error: `col ${error.column ?? 1}: ${error.message}` };
  if (parsed.conf.rules.length !== 1) return { ok: false, error: "not a rule: type SOURCE -> TARGETS" };
  const rule = parsed.conf.rules[0]!;
  return { ok: true, rule: editing ? { ...rule, headers: editing.headers, options: editing.options } : rule };
}

/** Whether the issue at `path` (`rules.0.auth.1.hash`) is about a hash left empty. */
function emptyHash(rules: readonly Rule[], path: string): boolean {
  const [, r, , u] = path.split(".");
  return rules[Number(r)]?.auth[Number(u)]?.hash === "";
}

/** Whether a row shows `query` (case-insensitive) in its source, targets or auth. */
export function routeMatches(row: RouteRow, query: string): boolean {
  return includesFolded(`${row.source} ${row.targets} ${row.auth} ${row.lb}`, query);
}

export function includesFolded(text: string, query: string): boolean {
  return query === "" || text.toLowerCase().includes(query.toLowerCase());
}
