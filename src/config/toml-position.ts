/**
 * Finds where a dotted key is written in a TOML text, so a validation error can name a line and
 * column (smol-toml reports positions only for syntax errors). It understands `[table]` headers,
 * dotted and quoted keys; for a key that is absent it answers with the nearest enclosing key or
 * table header that is written, and for an unknown table with nothing.
 *
 * A text can have thousands of issues (every unknown key is one), so `tomlLocator` indexes it once,
 * in one pass, and each question is then a few map lookups. Scanning the text per question made
 * 4,000 unknown keys take seconds of blocked event loop (found by fuzzing).
 */
export type TomlPos = { line: number; column: number };

/** Joins key parts; parts may contain dots (quoted keys), so the separator is a NUL. */
const SEP = "\0";

/** Answers where each dotted key path is written in `text`. */
export function tomlLocator(text: string): (path: readonly string[]) => TomlPos | undefined {
  const { exact, within } = buildIndex(text);
  return (path) => {
    if (path.length === 0) return undefined;
    // The key itself, or the first key or table written inside it (`a.b.c = 1` for a) …
    const inside = within.get(path.join(SEP));
    if (inside) return inside;
    // … else the deepest enclosing key or table that is written (`[a]` for a.b).
    for (let depth = path.length - 1; depth >= 1; depth--) {
      const found = exact.get(path.slice(0, depth).join(SEP));
      if (found) return found;
    }
    return undefined;
  };
}

/** One question about one text; use tomlLocator for several. */
export function tomlPosition(text: string, path: readonly string[]): TomlPos | undefined {
  return tomlLocator(text)(path);
}

interface TomlIndex {
  /** Full key path → the first line writing exactly that key or table header. */
  exact: Map<string, TomlPos>;
  /** Full key path → the first line writing that key, a key below it, or such a table header. */
  within: Map<string, TomlPos>;
}

function buildIndex(text: string): TomlIndex {
  const exact = new Map<string, TomlPos>();
  const within = new Map<string, TomlPos>();
  const lines = text.split(/\r?\n/);
  let table: string[] = [];

  const record = (full: string[], pos: TomlPos) => {
    for (let n = 1; n <= full.length; n++) {
      const key = full.slice(0, n).join(SEP);
      if (!within.has(key)) within.set(key, pos);
    }
    const key = full.join(SEP);
    if (!exact.has(key)) exact.set(key, pos);
  };

  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? "";
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const pos = { line: i + 1, column: raw.length - raw.trimStart().length + 1 };
    const header = /^\[\[?\s*([^\]]+?)\s*\]\]?/.exec(trimmed);
    if (header) {
      table = splitKey(header[1] ?? "");
      record(table, pos);
      continue;
    }
    const eq = keyEnd(trimmed);
    if (eq < 0) continue;
    record([...table, ...splitKey(trimmed.slice(0, eq))], pos);
  }
  return { exact, within };
}

function splitKey(key: string): string[] {
  const parts: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*(?:\.|$)/y;
  let m: RegExpExecArray | null;
  while (re.lastIndex < key.length && (m = re.exec(key))) parts.push(m[1] ?? m[2] ?? m[3] ?? "");
  return parts;
}

/** Index of the `=` that ends the key part of a `key = value` line, outside quotes; -1 if none. */
function keyEnd(line: string): number {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "=") return i;
  }
  return -1;
}
