/**
 * Phase 1: which rule answers this host and path (SPEC §5.3). Only map lookups and one ordered
 * scan; exact paths are indexed so a long list of them costs one lookup.
 */
import type { Route, RouteTable } from "../config/snapshot.ts";
import { segmentHash } from "../lib/segment-hash.ts";
import { ProxyError } from "./errors.ts";
import type { Flight } from "./flight.ts";
import { underMount } from "./url.ts";

const NONE = new Int32Array(0);

export interface RouteMatch {
  readonly route: Route;
  /** Regex rules whose targets substitute `$1` / `${name}`: the match; null otherwise. */
  readonly groups: RegExpExecArray | null;
}

/** Phase 1: the rule for this request, written to the flight with its captures; none is a 421. */
export function route(flight: Flight): Route {
  const found = findRoute(flight.snapshot.routes, flight.host, flight.path, flight);
  if (found === null) throw new ProxyError(421, "client", `no rule matches ${flight.host || "(no host)"}${flight.path}`);
  flight.route = found;
  return found;
}

/** The same lookup as a value, for tests and tools. */
export function matchRoute(table: RouteTable, host: string, path: string): RouteMatch | null {
  const captured: Captured = { groups: null };
  const found = findRoute(table, host, path, captured);
  return found === null ? null : { route: found, groups: captured.groups };
}

/** Where a regex rule's match is left (the flight itself on the request path: no result object). */
interface Captured {
  groups: RegExpExecArray | null;
}

function findRoute(table: RouteTable, host: string, path: string, into: Captured): Route | null {
  const mounts = table.domainPath.get(host);
  if (mounts) {
    for (const route of mounts) if (underMount(path, route.value)) return route;
  }
  const app = table.apps.get(host);
  if (app) return app;
  const domain = table.domain.get(host);
  if (domain) return domain;
  return matchPath(table, path, into) ?? table.fallback;
}

/**
 * Exact, prefix and regex rules: first in file order wins. Only the rules that can match this
 * path's first segment are tried: two sorted position lists merged in file order. A small table
 * has no index and every rule is in `anySegment`.
 */
function matchPath(table: RouteTable, path: string, into: Captured): Route | null {
  const paths = table.paths;
  const bucket = table.bySegment.size === 0 ? NONE : (table.bySegment.get(segmentHash(path, 1)) ?? NONE);
  const any = table.anySegment;
  let i = 0;
  let j = 0;
  while (i < bucket.length || j < any.length) {
    const position = j >= any.length || (i < bucket.length && bucket[i]! < any[j]!) ? bucket[i++]! : any[j++]!;
    const route = paths[position]!;
    if (route.kind === "exact") {
      // SPEC §5.3: an exact rule also matches its path followed by one `/`.
      if (path === route.value || (path.length === route.value.length + 1 && path.charCodeAt(path.length - 1) === 47 && path.startsWith(route.value))) {
        return route;
      }
    } else if (route.regex) {
      // exec() builds the match array; test() does not, and most regex rules never read it.
      if (!route.captures) {
        if (route.regex.test(path)) return route;
        continue;
      }
      const groups = route.regex.exec(path);
      if (groups) {
        into.groups = groups;
        return route;
      }
    } else if (underMount(path, route.value)) return route;
  }
  return null;
}
