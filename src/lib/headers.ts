/**
 * Hop-by-hop header handling, RFC 9110 §7.6.1: these headers describe one connection and must not
 * be forwarded by a proxy, in either direction. `Connection` may name further headers to drop.
 */

/** Lower-case names that are always hop-by-hop (SPEC §5.6 step 1). `te` is handled separately. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "trailer",
  "transfer-encoding",
  "upgrade",
  // The h2c upgrade's settings describe one connection (RFC 9113 §3.1 / RFC 7540 §3.2.1).
  "http2-settings",
]);

/** Names a `headers {}` block may not set or remove (SPEC §3.5): framing and connection management. */
export const REFUSED_BLOCK_HEADERS: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "content-length",
  "proxy-connection",
]);

/** The extra names listed by a `Connection` header value, lower-cased. Empty when there are none. */
const NONE: readonly string[] = [];

export function connectionTokens(value: string | null): readonly string[] {
  // The common values name no extra header; answer them without splitting.
  if (!value || value === "keep-alive" || value === "close" || value === "Keep-Alive" || value === "Close") return NONE;
  const names: string[] = [];
  for (const part of value.split(",")) {
    const name = part.trim().toLowerCase();
    if (name && name !== "close" && name !== "keep-alive") names.push(name);
  }
  return names;
}

/** RFC 9110 §5.1 token characters, the only ones allowed in a header name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
export function isHeaderName(name: string): boolean {
  return TOKEN.test(name);
}

/** A field value may hold visible characters, spaces and tabs, never CR, LF or NUL (RFC 9110 §5.5). */
const BAD_VALUE = /[\0-\x08\x0a-\x1f\x7f]/;
export function isHeaderValue(value: string): boolean {
  return !BAD_VALUE.test(value);
}
