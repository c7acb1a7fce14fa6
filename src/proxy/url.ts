/**
 * Upstream URL resolution (SPEC §5.4): where the request goes on the chosen target.
 */
import type { Route, Upstream } from "../config/snapshot.ts";

/** Appends `rest` to `base` with exactly one `/` between them; an empty rest leaves base as is. */
export function joinPath(base: string, rest: string): string {
  if (rest === "") return base;
  // The common case, a target without a path: the client's path as it is (no new string).
  if (base === "/" && rest.charCodeAt(0) === 47) return rest;
  const b = base.endsWith("/");
  const r = rest.startsWith("/");
  if (b && r) return base + rest.slice(1);
  if (!b && !r) return `${base}/${rest}`;
  return base + rest;
}

/** Target query, `&`, client query; either alone when the other is empty. */
export function joinQuery(targetQuery: string, clientQuery: string): string {
  if (targetQuery === "") return clientQuery;
  if (clientQuery === "") return targetQuery;
  return `${targetQuery}&${clientQuery}`;
}

/** The path a mount passes on: `/api/*` with `/api/x/y` → `x/y`; `/api` → empty. */
export function restAfterMount(path: string, mount: string): string {
  return path.length < mount.length ? "" : path.slice(mount.length);
}

/** What upstreamTarget() reads of a request (a Flight is one). */
export interface RoutedRequest {
  readonly path: string;
  readonly query: string;
  /** The regex match, for regex rules whose targets refer to groups. */
  readonly groups: RegExpExecArray | null;
}

/** The origin-form request target (path + query) for the upstream. */
export function upstreamTarget(route: Route, target: Upstream, request: RoutedRequest): string {
  const path = request.path;
  let p: string;
  let q = target.query;
  switch (route.kind) {
    case "exact":
      p = target.path;
      break;
    case "prefix":
    case "domain_path":
      p = joinPath(target.path, restAfterMount(path, route.value));
      break;
    case "regex": {
      // A template without references expands to its own text: groups are not needed then.
      const expanded = target.template ? expandTemplate(target.template, request.groups) : target.path;
      const qi = expanded.indexOf("?");
      p = qi < 0 ? expanded : expanded.slice(0, qi);
      q = qi < 0 ? "" : expanded.slice(qi + 1);
      if (p === "") p = "/";
      break;
    }
    default:
      p = joinPath(target.path, path);
  }
  const fullQuery = joinQuery(q, request.query);
  return fullQuery === "" ? p : `${p}?${fullQuery}`;
}

/** Substitutes regex groups; a group that did not participate becomes empty. */
export function expandTemplate(template: Route["targets"][number]["template"] & object, m: RegExpExecArray | null): string {
  let out = "";
  for (const part of template) {
    if (typeof part === "string") out += part;
    else if (typeof part === "number") out += m?.[part] ?? "";
    else out += m?.groups?.[part.name] ?? "";
  }
  return out;
}

/** Whether `path` is under a mount like `/api/`: `/api` itself or anything below `/api/`. */
export function underMount(path: string, mount: string): boolean {
  if (path.startsWith(mount)) return true;
  return path.length === mount.length - 1 && mount.startsWith(path);
}
