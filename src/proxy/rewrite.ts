/**
 * HTML of prefix mounts (SPEC §5.7): an app mounted at `/api/*` writes links as if it owned the
 * site root, so root-relative `href`, `src` and `action` attributes get the mount in front.
 * Bun's HTMLRewriter parses as the body streams, so attributes split across chunks are handled
 * and `<script>` bodies are text it never touches. gzip and deflate bodies are decoded first and
 * sent uncompressed; br and zstd pass unchanged.
 */
const DECODABLE: Readonly<Record<string, "gzip" | "deflate" | null>> = { "": null, identity: null, gzip: "gzip", "x-gzip": "gzip", deflate: "deflate" };
const ATTRIBUTES = ["href", "src", "action"] as const;

/** Whether a response from a mount should be rewritten, and how to decode it first. */
export function htmlToRewrite(headers: Headers, status: number): { decode: "gzip" | "deflate" | null } | null {
  if (status === 204 || status === 304) return null;
  const type = headers.get("content-type");
  if (type === null || !type.toLowerCase().startsWith("text/html")) return null;
  const encoding = (headers.get("content-encoding") ?? "").trim().toLowerCase();
  const decode = DECODABLE[encoding];
  return decode === undefined ? null : { decode };
}

/** Rewrites root-relative links under `mount` (written without its trailing slash, e.g. `/api`). */
export function rewriteHtml(response: Response, mount: string, decode: "gzip" | "deflate" | null): Response {
  let input = response;
  if (decode !== null || response.headers.has("content-length")) {
    const headers = new Headers(response.headers);
    headers.delete("content-length");
    headers.delete("content-encoding");
    const body = decode !== null && response.body ? response.body.pipeThrough(new DecompressionStream(decode)) : response.body;
    input = new Response(body, { status: response.status, statusText: response.statusText, headers });
  }
  const rewriter = new HTMLRewriter().on("[href],[src],[action]", {
    element(el) {
      for (const name of ATTRIBUTES) {
        const value = el.getAttribute(name);
        // Root-relative only: `//host/x` is absolute, `x/y` relative; both stay as written.
        if (value !== null && value.startsWith("/") && !value.startsWith("//")) el.setAttribute(name, mount + value);
      }
    },
  });
  return rewriter.transform(input);
}
