/**
 * `redirect://` targets (SPEC §5.4): 301 to https on the target's host, path and query resolved
 * like a proxied request. A Location that would leave the configured authority is refused.
 */
import type { Route, Upstream } from "../config/snapshot.ts";
import { isHeaderValue } from "../lib/headers.ts";
import type { Flight } from "./flight.ts";
import { plain, ProxyError } from "./errors.ts";
import { upstreamTarget } from "./url.ts";

export function redirect(flight: Flight, route: Route, target: Upstream): Response {
  const location = `https://${target.authority}${upstreamTarget(route, target, flight)}`;
  let ok = isHeaderValue(location);
  if (ok) {
    try {
      ok = new URL(location).host === new URL(`https://${target.authority}/`).host;
    } catch {
      ok = false;
    }
  }
  if (!ok) throw new ProxyError(400, "client", `redirect Location ${JSON.stringify(location)} leaves ${target.authority}`);
  return plain(301, flight.req.method, "Moved Permanently", { location });
}
