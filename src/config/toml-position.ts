/**
 * Finds where a dotted key is written in a TOML text, so a validation error can name a line and
 * column (smol-toml reports positions only for syntax errors). It understands `[table]` headers,
 * dotted and quoted keys; for a key that is absent it answers with the table header, and for an
 * unknown table with nothing.
 */
export function tomlPosition(text: string, path: readonly string[]): { line: number; column: number } | undefined {
  const lines = text.split(/\r?\n/);
  let table: string[] = [];
  let best: { line: number; column: number; depth: number } | null = null;

  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? "";
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const column = raw.length - raw.trimStart().length + 1;
    const header = /^\[\[?\s*([^\]]+?)\s*\]\]?/.exec(trimmed);
    if (header) {
      table = splitKey(header[1] ?? "");
      const depth = commonDepth(table, path);
      if (depth === table.length && (!best || depth > best.depth)) best = { line: i + 1, column, depth };
      continue;
    }
    const eq = keyEnd(trimmed);
    if (eq < 0) continue;
    const full = [...table, ...splitKey(trimmed.slice(0, eq))];
    const depth = commonDepth(full, path);
    if (depth === full.length && (!best || depth > best.depth)) best = { line: i + 1, column, depth };
  }
  return best ? { line: best.line, column: best.column } : undefined;
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

function commonDepth(a: readonly string[], b: readonly string[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}
