/**
 * `redirect://` targets (SPEC §5.4): 301 to https on the target's host, path and query resolved
 * like a proxied request. A Location that would leave the configured authority is refused.
 */
import type { Route, Upstream } from "../config/snapshot.ts";
import { isHeaderValue } from "../lib/headers.ts";
import type { RequestContext } from "./context.ts";
import { plain, ProxyError } from "./errors.ts";
import { upstreamTarget } from "./url.ts";

export function redirect(ctx: RequestContext, route: Route, target: Upstream, groups: RegExpExecArray | null): Response {
  const location = `https://${target.authority}${upstreamTarget(route, target, ctx.path, ctx.query, groups)}`;
  let ok = isHeaderValue(location);
  if (ok) {
    try {
      ok = new URL(location).host === new URL(`https://${target.authority}/`).host;
    } catch {
      ok = false;
    }
  }
  if (!ok) throw new ProxyError(400, "client", `redirect Location ${JSON.stringify(location)} leaves ${target.authority}`);
  return plain(301, ctx.req.method, "Moved Permanently", { location });
}
