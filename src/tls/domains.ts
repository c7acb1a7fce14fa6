/**
 * The names ACME orders certificates for (SPEC §12.6): hosts of `domain` and `domain_path` rules
 * plus app domains, without names no public CA will issue for: `localhost`, `*.localhost`,
 * `*.test`, IP literals, and anything that is not a dotted host name.
 */
import { isIP } from "node:net";
import { canonicalHost } from "../lib/net.ts";

const HOST = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

export function isPubliclyNameable(host: string): boolean {
  const name = host.toLowerCase();
  if (isIP(name) || name === "localhost" || name.endsWith(".localhost") || name.endsWith(".test")) return false;
  return HOST.test(name);
}

/** The publicly nameable ones of `hosts`, lower-cased without a trailing dot, de-duplicated and sorted. */
export function acmeDomains(hosts: Iterable<string>): string[] {
  const names = new Set<string>();
  for (const host of hosts) names.add(canonicalHost(host));
  return [...names].filter(isPubliclyNameable).sort();
}
