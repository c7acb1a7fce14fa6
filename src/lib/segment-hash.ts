/**
 * The hash the route index is keyed by (config/compile.ts builds the index, proxy/route.ts looks
 * requests up in it). Shared here so that the request path imports nothing from config/ at run time.
 */

/**
 * FNV-1a hash of the path segment starting at `start`, up to the next `/` or the end: `/api/x`
 * from 1 and `api` from 0 hash alike. A number, not the segment itself: looking a freshly sliced
 * string up in a Map costs ~75 ns more than hashing its few characters here.
 */
export function segmentHash(text: string, start: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 47 /* / */) break;
    hash = Math.imul(hash ^ c, 0x01000193);
  }
  return hash;
}
