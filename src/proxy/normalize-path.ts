/**
 * The normalised request path (SPEC §5.3): the one path that routes, authenticates and is
 * forwarded, so the proxy and the backend judge the same resource. A backend (nginx, WSGI, Rails)
 * decodes `%61` into `a`, resolves `..` and merges `//`; a proxy that matched the raw text would
 * let `//admin` or `/%61dmin` walk around a rule that protects `/admin`.
 *
 * - percent-encoded unreserved characters (RFC 3986 §2.3: ALPHA DIGIT - . _ ~) are decoded,
 *   other escapes are kept with upper-case hex (RFC 3986 §6.2.2.1);
 * - dot segments are removed after decoding (RFC 3986 §5.2.4), so `%2e%2e` is `..`;
 * - runs of `/` are merged into one (nginx `merge_slashes on`);
 * - an encoded `/` or `\` (`%2F`, `%5C`) is refused unless `allowEncodedSlashes` (then it stays
 *   encoded and is never a separator); a segment that is `.` or `..` once its `;` parameters are
 *   removed (`..;x`, Tomcat-style) is refused: some backends treat it as a dot segment;
 * - a `%` not followed by two hex digits is refused, as nginx does.
 *
 * Returns null for a refused path (the caller answers 400). The common path (no `%`, no `//`,
 * no `/.`) costs one scan and is returned as is.
 */
export function normalizePath(path: string, allowEncodedSlashes: boolean): string | null {
  const n = path.length;
  if (n === 0 || path.charCodeAt(0) !== SLASH) return null;
  for (let i = 0; i < n; i++) {
    const c = path.charCodeAt(i);
    if (c === PERCENT || c === BACKSLASH) return slowPath(path, allowEncodedSlashes);
    if (c === SLASH && i + 1 < n) {
      const next = path.charCodeAt(i + 1);
      if (next === SLASH || next === DOT) return slowPath(path, allowEncodedSlashes);
    }
  }
  return path;
}

const SLASH = 47;
const BACKSLASH = 92;
const DOT = 46;
const PERCENT = 37;

function slowPath(path: string, allowEncodedSlashes: boolean): string | null {
  const raw = path.split("/");
  const out: string[] = [];
  const last = raw.length - 1;
  for (let i = 1; i <= last; i++) {
    const segment = decodeSegment(raw[i]!, allowEncodedSlashes);
    if (segment === null) return null;
    if (segment === "") {
      // Merged slashes; a trailing one is kept (`/a/` stays `/a/`).
      if (i === last) out.push("");
      continue;
    }
    const semi = segment.indexOf(";");
    if (semi >= 0) {
      const bare = segment.slice(0, semi);
      if (bare === "." || bare === "..") return null;
    }
    if (segment === ".") {
      if (i === last) out.push("");
      continue;
    }
    if (segment === "..") {
      out.pop();
      if (i === last) out.push("");
      continue;
    }
    out.push(segment);
  }
  return `/${out.join("/")}`;
}

/** One segment with unreserved escapes decoded and the others in upper case; null when refused. */
function decodeSegment(segment: string, allowEncodedSlashes: boolean): string | null {
  if (segment.indexOf("%") < 0 && segment.indexOf("\\") < 0) return segment;
  let out = "";
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (c === BACKSLASH) {
      // A literal `\` is a separator to Windows servers and WHATWG URL parsers: treated as `%5C`.
      if (!allowEncodedSlashes) return null;
      out += "%5C";
      continue;
    }
    if (c !== PERCENT) {
      out += segment[i];
      continue;
    }
    const hi = hexValue(segment.charCodeAt(i + 1));
    const lo = hexValue(segment.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) return null;
    const byte = hi * 16 + lo;
    i += 2;
    if (isUnreserved(byte)) out += String.fromCharCode(byte);
    else if ((byte === SLASH || byte === BACKSLASH) && !allowEncodedSlashes) return null;
    else out += `%${HEX[hi]}${HEX[lo]}`;
  }
  return out;
}

const HEX = "0123456789ABCDEF";

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(b: number): boolean {
  return (b >= 97 && b <= 122) || (b >= 65 && b <= 90) || (b >= 48 && b <= 57) || b === 45 || b === 46 || b === 95 || b === 126;
}
