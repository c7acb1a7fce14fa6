/**
 * Differential fuzzing of the route index (issue 20, item 2): generated path-rule tables and
 * paths, each path matched through the first-segment index and through the plain scan of every
 * rule in file order. Any difference is a failure. Shared by the bounded test and bench/fuzz.ts.
 */
import { compileRoutes } from "../../src/config/compile.ts";
import type { ProxyConf } from "../../src/config/model.ts";
import type { RouteTable } from "../../src/config/snapshot.ts";
import { proxyConfSchema } from "../../src/config/schema.ts";
import { parseProxyConf } from "../../src/config/syntax.ts";
import { matchRoute } from "../../src/proxy/route.ts";
import { Rng } from "./fuzz.ts";

const WORDS = ["admin", "api", "a", "ad", "administrator", "admin.php", "users", "v1", "static", "x", "auth", "api-v2", "~u", ""];

/** A path made of the words above and their near misses (suffixes, dots, trailing slashes). */
function randomPath(rng: Rng): string {
  const depth = 1 + rng.int(4);
  let path = "";
  for (let i = 0; i < depth; i++) {
    let word = rng.pick(WORDS);
    if (rng.chance(0.2)) word += rng.pick([".php", "x", "-1", "s", "/"]);
    path += `/${word}`;
  }
  if (rng.chance(0.2)) path += "/";
  return path.replaceAll("//", "/");
}

/** One rule source: exact, prefix or one of the regex shapes the index looks at. */
function randomSource(rng: Rng): string {
  const w = rng.pick(WORDS.filter((x) => x !== ""));
  const v = rng.pick(WORDS.filter((x) => x !== ""));
  const escaped = w.replaceAll(".", "\\.");
  switch (rng.int(13)) {
    case 0:
      return `/${w}`;
    case 1:
      return `/${w}/${v}`;
    case 2:
      return `/${w}/*`;
    case 3:
      return `/${w}*`;
    case 4:
      return `~^/${escaped}/?.*$`;
    case 5:
      return `~^/${escaped}/(\\d+)`;
    case 6:
      return `~^/${escaped}`;
    case 7:
      return `~^/${escaped}/${v}$`;
    case 8:
      return `~^/${escaped}\\/*`;
    case 9:
      return `~^/${escaped}/{0,1}x`;
    case 10:
      return `~^/(${escaped}|${v})/`;
    case 11:
      return `~/${escaped}/`;
    default:
      return `~^/${escaped}/+${v}`;
  }
}

export function randomTable(rng: Rng): { text: string; table: RouteTable } {
  // Above SCAN_WHOLE_TABLE (8) rules the index is used; below it both are plain scans.
  const count = 1 + rng.int(30);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) lines.push(`${randomSource(rng)} -> http://127.0.0.1:${1000 + i}`);
  const text = `${lines.join("\n")}\n`;
  const parsed = parseProxyConf(text);
  const conf = proxyConfSchema.parse(parsed.conf) as ProxyConf;
  return { text, table: compileRoutes(conf.rules, [], conf.headers) };
}

/** The same table without an index: every rule tried in file order. */
export function unindexed(table: RouteTable): RouteTable {
  return { ...table, bySegment: new Map(), anySegment: Int32Array.from(table.paths.keys()) };
}

export interface RouteFuzzResult {
  tables: number;
  paths: number;
  indexedTables: number;
  failures: { table: string; path: string; indexed: number; scanned: number }[];
}

function position(table: RouteTable, route: RouteTable["paths"][number] | undefined): number {
  return route === undefined ? -1 : table.paths.indexOf(route);
}

export function fuzzRouteIndex(seed: number, tables: number, pathsPerTable: number): RouteFuzzResult {
  const rng = new Rng(seed);
  const result: RouteFuzzResult = { tables, paths: 0, indexedTables: 0, failures: [] };
  for (let t = 0; t < tables; t++) {
    const { text, table } = randomTable(rng);
    if (table.bySegment.size > 0) result.indexedTables++;
    const plain = unindexed(table);
    for (let p = 0; p < pathsPerTable; p++) {
      const path = randomPath(rng);
      result.paths++;
      // Rules are told apart by position: two rules may share a source text.
      const indexed = position(table, matchRoute(table, "h", path)?.route);
      const scanned = position(table, matchRoute(plain, "h", path)?.route);
      if (indexed !== scanned && result.failures.length < 20) result.failures.push({ table: text, path, indexed, scanned });
    }
  }
  return result;
}
