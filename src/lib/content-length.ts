/**
 * A Content-Length field value as a number, or null when it is not a valid one. Repeated fields
 * arrive joined with ", " and count as one when every member is the same number (RFC 9110 §8.6).
 * At most 15 digits, so the number is exact.
 */
export function parseContentLength(value: string): number | null {
  if (value.indexOf(",") < 0) return isLength(value) ? Number(value) : null;
  const members = value.split(",");
  const first = members[0]!.trim();
  for (const member of members) if (member.trim() !== first) return null;
  return isLength(first) ? Number(first) : null;
}

function isLength(s: string): boolean {
  if (s.length === 0 || s.length > 15) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}
