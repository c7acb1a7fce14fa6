/**
 * The subjectAltName entries of a certificate parsed by node:crypto's X509Certificate (native,
 * unlike @peculiar/x509, whose import adds ~18 MiB to a running proxy: docs/architecture.md).
 */
import type { X509Certificate } from "node:crypto";

export interface SanEntry {
  type: "dns" | "ip";
  /** DNS names as written; IP addresses in their short text form (`::1`, `2001:db8::1`). */
  value: string;
}

// `DNS:a.example, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1`; a value with a comma or a
// quote is written as a JSON string (Node's format, RFC 5280 §4.2.1.6 names otherwise plain).
const ENTRY = /(DNS|IP Address|[A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;

export function sanEntries(cert: X509Certificate): SanEntry[] {
  const text = cert.subjectAltName;
  if (!text) return [];
  const out: SanEntry[] = [];
  for (const m of text.matchAll(ENTRY)) {
    const raw = m[2]!;
    const value = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
    if (m[1] === "DNS") out.push({ type: "dns", value });
    else if (m[1] === "IP Address") out.push({ type: "ip", value: shortIp(value) });
  }
  return out;
}

/** IPv6 as the URL parser writes it (compressed, lower-case); IPv4 unchanged. */
function shortIp(ip: string): string {
  if (!ip.includes(":")) return ip;
  const host = new URL(`http://[${ip}]/`).hostname;
  return host.slice(1, -1);
}
