/**
 * Phase 1: which rule answers this host and path (SPEC §5.3). Only map lookups and one ordered
 * scan; exact paths are indexed so a long list of them costs one lookup.
 */
import type { Route, RouteTable } from "../config/snapshot.ts";
import { underMount } from "./url.ts";

export interface RouteMatch {
  readonly route: Route;
  /** Regex rules: the match, for `$1` / `${name}` substitution. */
  readonly groups: RegExpExecArray | null;
}

export function matchRoute(table: RouteTable, host: string, path: string): RouteMatch | null {
  const mounts = table.domainPath.get(host);
  if (mounts) {
    for (const route of mounts) if (underMount(path, route.value)) return { route, groups: null };
  }
  const app = table.apps.get(host);
  if (app) return { route: app, groups: null };
  const domain = table.domain.get(host);
  if (domain) return { route: domain, groups: null };

  // exact, prefix and regex rules: first in file order wins. The exact index gives the earliest
  // exact rule for this path; only prefix/regex rules before it need to be tried.
  const paths = table.paths;
  const exactAt = table.exactIndex.get(path) ?? paths.length;
  for (const i of table.scanned) {
    if (i > exactAt) break;
    const route = paths[i]!;
    if (route.regex) {
      const groups = route.regex.exec(path);
      if (groups) return { route, groups };
    } else if (underMount(path, route.value)) return { route, groups: null };
  }
  if (exactAt < paths.length) return { route: paths[exactAt]!, groups: null };
  return table.fallback ? { route: table.fallback, groups: null } : null;
}
