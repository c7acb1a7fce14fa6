/**
 * docs/architecture.md describes the tree as it is: every path it names in backticks must exist,
 * so a rename or removal that forgets the document fails here.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "../..");
const DOC = readFileSync(join(ROOT, "docs/architecture.md"), "utf8");

/**
 * Backticked paths: a project folder at the start (`src/…`, `test/…`, …) or a file name with an
 * extension, in inline code or in the fenced diagrams (whose file names are relative to the
 * folder written on the same line).
 */
function namedPaths(markdown: string): string[] {
  const found = new Set<string>();
  for (const m of markdown.matchAll(/`([^`\s]+)`/g)) {
    const text = m[1]!;
    if (/^(src|test|bench|scripts|docs|sites)\//.test(text) || /^[\w.-]+\.(json|md|ts|tsx)$/.test(text)) found.add(text);
  }
  return [...found];
}

/** A bare file name (`route.ts`) in the docs means the file under the folder given near it. */
function exists(path: string): boolean {
  if (existsSync(join(ROOT, path))) return true;
  if (path.includes("/")) return false;
  for (const dir of ["src/cli", "src/config", "src/proxy", "src/server", "src/lib", "src/runtime", "src/upstream", "."]) {
    if (existsSync(join(ROOT, dir, path))) return true;
  }
  return false;
}

/** The file names in the request-path and config diagrams, resolved against the folder of the line that last named one. */
function diagramPaths(markdown: string): string[] {
  const out: string[] = [];
  for (const block of markdown.matchAll(/```\n([\s\S]*?)```/g)) {
    let folder = "";
    for (const line of block[1]!.split("\n")) {
      const lead = /^(src\/[\w/.-]+\.ts)/.exec(line);
      if (lead) folder = lead[1]!.slice(0, lead[1]!.lastIndexOf("/"));
      for (const m of line.matchAll(/(?:^|[\s,(])((?:[\w-]+\/)*[\w-]+\.tsx?)\b/g)) {
        const name = m[1]!;
        // Relative to the block's folder (`auth/basic.ts` under src/proxy), else to src/ (`server/ws.ts`).
        const candidates = name.startsWith("src/") ? [name] : [`${folder}/${name}`, `src/${name}`];
        out.push(candidates.find((c) => existsSync(join(ROOT, c))) ?? candidates[0]!);
      }
    }
  }
  return out;
}

describe("docs/architecture.md", () => {
  test("names only paths that exist in the tree", () => {
    const named = [...namedPaths(DOC), ...diagramPaths(DOC)];
    expect(named.length).toBeGreaterThan(40);
    expect(named.filter((p) => !exists(p))).toEqual([]);
  });

  test("a path that does not exist is caught", () => {
    const broken = "The door is `src/server/door.ts`.\n```\nsrc/proxy/handle.ts   x\n  1 gone.ts   y\n```\n";
    expect([...namedPaths(broken), ...diagramPaths(broken)].filter((p) => !exists(p))).toEqual(["src/server/door.ts", "src/proxy/gone.ts"]);
  });
});
