/**
 * The client IP of SPEC §5.5: the peer, unless the peer is a trusted proxy, in which case the
 * forwarding chain is walked from the right past trusted hops.
 */
import { isIP } from "node:net";
import { normalizeIp, type CidrSet } from "../lib/net.ts";

export function resolveClientIp(peer: string, headers: Headers, trusted: CidrSet): string {
  if (trusted.size === 0 || !trusted.has(peer)) return peer;
  const xff = headers.get("x-forwarded-for");
  const chain = xff !== null ? xff.split(",") : forwardedFor(headers.get("forwarded"));
  if (!chain || chain.length === 0) return peer;
  let leftmost = peer;
  for (let i = chain.length - 1; i >= 0; i--) {
    const ip = cleanAddress(chain[i]!);
    if (ip === null) return peer; // an unparsable entry ends the walk at the peer
    if (!trusted.has(ip)) return ip;
    leftmost = ip;
  }
  return leftmost;
}

/** `for=` values of a Forwarded header (RFC 7239), in order. */
function forwardedFor(value: string | null): string[] | null {
  if (!value) return null;
  const out: string[] = [];
  for (const element of value.split(",")) {
    for (const pair of element.split(";")) {
      const eq = pair.indexOf("=");
      if (eq < 0) continue;
      if (pair.slice(0, eq).trim().toLowerCase() === "for") out.push(pair.slice(eq + 1));
    }
  }
  return out;
}

/** `"[2001:db8::1]:4711"`, `1.2.3.4:80`, ` 1.2.3.4 ` → a plain address, or null. */
function cleanAddress(raw: string): string | null {
  let s = raw.trim();
  if (s.startsWith('"') && s.endsWith('"')) s = s.slice(1, -1);
  if (s.startsWith("[")) {
    const close = s.indexOf("]");
    if (close < 0) return null;
    s = s.slice(1, close);
  } else if (s.indexOf(":") > 0 && s.indexOf(":") === s.lastIndexOf(":")) {
    s = s.slice(0, s.indexOf(":")); // IPv4 with a port
  }
  return isIP(s) ? normalizeIp(s) : null;
}
