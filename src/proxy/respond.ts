/**
 * Phase 5: the upstream's answer as the client's Response (SPEC §5.7): hop-by-hop headers
 * removed, everything else relayed as sent, prefix mounts' redirects kept under the mount, HSTS
 * on HTTPS.
 */
import type { Route } from "../config/snapshot.ts";
import { connectionTokens, HOP_BY_HOP } from "../lib/headers.ts";
import type { InboundResponse } from "../upstream/exchange.ts";
import type { RequestContext } from "./context.ts";

export function respond(ctx: RequestContext, route: Route, upstream: InboundResponse): Response {
  const headers = new Headers();
  let named: string[] | null = null;
  for (const [name, value] of upstream.headers) {
    if (name === "connection") named = connectionTokens(value);
  }
  const mounted = route.kind === "prefix" || route.kind === "domain_path";
  const redirect = upstream.status >= 300 && upstream.status < 400;
  for (const [name, value] of upstream.headers) {
    if (HOP_BY_HOP.has(name) || name === "te") continue;
    if (named !== null && named.includes(name)) continue;
    if (mounted && redirect && name === "location") {
      headers.append(name, mountLocation(value, route.value));
      continue;
    }
    headers.append(name, value);
  }
  if (ctx.scheme === "https" && ctx.snapshot.hsts !== null) headers.set("strict-transport-security", ctx.snapshot.hsts);
  // A HEAD answer keeps the upstream's Content-Length; Bun would otherwise send 0.
  const body = ctx.req.method === "HEAD" ? null : upstream.body;
  return new Response(body, { status: upstream.status, statusText: upstream.statusText, headers });
}

/** `/login` under the mount `/api/` becomes `/api/login`; absolute and `//host` URLs are left alone. */
export function mountLocation(location: string, mount: string): string {
  if (!location.startsWith("/") || location.startsWith("//")) return location;
  return mount.slice(0, -1) + location;
}
