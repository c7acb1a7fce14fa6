/**
 * IP addresses, CIDR sets and the Host header: parsing that the request path needs, done without
 * regexes where it runs per request.
 */
import { isIP } from "node:net";

/** `::ffff:1.2.3.4` → `1.2.3.4`; everything else unchanged (SPEC §1: IPv4 is reported plain). */
export function normalizeIp(address: string): string {
  if (address.length > 7 && address.startsWith("::ffff:") && address.indexOf(".") > 0) return address.slice(7);
  return address;
}

/** An address in bytes form: 4 bytes for IPv4, 16 for IPv6; null when it does not parse. */
export function ipBytes(address: string): Uint8Array | null {
  const ip = normalizeIp(address);
  const kind = isIP(ip);
  if (kind === 4) return Uint8Array.from(ip.split(".").map(Number));
  if (kind !== 6) return null;
  let text = ip;
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.indexOf(".", lastColon) > 0) {
    tail = text
      .slice(lastColon + 1)
      .split(".")
      .map(Number);
    text = text.slice(0, lastColon + 1) + "0:0";
  }
  const [head, rest] = text.split("::") as [string, string | undefined];
  const left = head ? head.split(":") : [];
  const right = rest !== undefined && rest !== "" ? rest.split(":") : [];
  const groups = [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    bytes[i * 2] = n >> 8;
    bytes[i * 2 + 1] = n & 0xff;
  });
  if (tail.length === 4) bytes.set(tail, 12);
  return bytes;
}

export interface Cidr {
  readonly bytes: Uint8Array;
  readonly bits: number;
  readonly text: string;
}

/** Parses `10.0.0.0/8`, `::1/128` or a bare address (a host route). Null when invalid. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf("/");
  const addr = slash >= 0 ? text.slice(0, slash) : text;
  const bytes = ipBytes(addr);
  if (!bytes) return null;
  const max = bytes.length * 8;
  const bits = slash >= 0 ? Number(text.slice(slash + 1)) : max;
  if (!Number.isInteger(bits) || bits < 0 || bits > max || (slash >= 0 && text.slice(slash + 1) === "")) return null;
  return { bytes, bits, text };
}

export function cidrContains(cidr: Cidr, ip: Uint8Array): boolean {
  if (cidr.bytes.length !== ip.length) return false;
  let bits = cidr.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((cidr.bytes[i] ?? 0) & mask) !== ((ip[i] ?? 0) & mask)) return false;
  }
  return true;
}

/** A compiled list of CIDRs with a small memo, since the same peers ask again and again. */
export class CidrSet {
  private readonly memo = new Map<string, boolean>();
  constructor(readonly cidrs: readonly Cidr[]) {}

  get size(): number {
    return this.cidrs.length;
  }

  has(address: string): boolean {
    if (this.cidrs.length === 0) return false;
    const known = this.memo.get(address);
    if (known !== undefined) return known;
    const bytes = ipBytes(address);
    const found = bytes !== null && this.cidrs.some((c) => cidrContains(c, bytes));
    // Bounded so a flood of distinct peers cannot grow it without limit.
    if (this.memo.size >= 4096) this.memo.clear();
    this.memo.set(address, found);
    return found;
  }
}

/**
 * The host part of a Host header or :authority, lower-cased, without port, IPv6 brackets or one
 * trailing dot (`[::1]:8443` → `::1`, `a.com.:443` → `a.com`, SPEC §5.3: `a.com.` is the same
 * name in DNS and must meet the same rule). Null when it is not a valid host (SPEC §5.9: 400).
 */
export function hostFromAuthority(authority: string): string | null {
  if (authority.length === 0 || authority.length > 255) return null;
  let host: string;
  if (authority.charCodeAt(0) === 91 /* [ */) {
    const close = authority.indexOf("]");
    if (close < 0) return null;
    host = authority.slice(1, close);
    const rest = authority.slice(close + 1);
    if (rest !== "" && !isPortSuffix(rest)) return null;
    if (isIP(host) !== 6) return null;
    return host.toLowerCase();
  }
  const colon = authority.indexOf(":");
  if (colon >= 0) {
    if (!isPortSuffix(authority.slice(colon))) return null;
    host = authority.slice(0, colon);
  } else host = authority;
  if (host.charCodeAt(host.length - 1) === 46 /* . */) host = host.slice(0, -1);
  if (host === "") return null;
  let previous = 46; // a leading dot is an empty first label
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    const ok = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95;
    // An empty label (`a.com..`, `.a.com`, `a..com`) is no DNS name: it would miss every host rule
    // and reach `default` carrying a Host the backend may read as the protected one.
    if (!ok || (c === 46 && previous === 46)) return null;
    previous = c;
  }
  if (previous === 46) return null; // `a.com..`: one trailing dot was the root, the other an empty label
  return host.toLowerCase();
}

function isPortSuffix(text: string): boolean {
  if (text.length < 2 || text.length > 6 || text.charCodeAt(0) !== 58) return false;
  for (let i = 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** `host:port` / `[v6]:port` → parts. Port 0 is allowed (pick a free port). */
export function parseBind(text: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  const host = m[1] ?? m[2] ?? "";
  if (m[1] !== undefined && isIP(host) !== 6) return null;
  return { host, port };
}

/**
 * A host as written in a URL or a bind address, with an optional port: an IPv6 literal goes in
 * brackets (RFC 3986 §3.2.2), so `::1` and 8080 give `[::1]:8080`, `example.com` alone stays as is.
 */
export function formatAuthority(host: string, port?: number): string {
  const name = host.includes(":") ? `[${host}]` : host;
  return port === undefined ? name : `${name}:${port}`;
}

/** A configured host (rule, app, admin.bind) compared like a request's: lower case, one trailing dot off. */
export function canonicalHost(host: string): string {
  const lower = host.toLowerCase();
  return lower.length > 1 && lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  const bytes = ipBytes(host);
  if (!bytes) return false;
  if (bytes.length === 4) return bytes[0] === 127;
  return bytes.every((b, i) => (i === 15 ? b === 1 : b === 0));
}
