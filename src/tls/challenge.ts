/**
 * HTTP-01 challenge answers (SPEC §5.2 step 2, RFC 8555 §8.3): while an ACME order waits for
 * validation its token is published here, and `/.well-known/acme-challenge/<token>` on the proxy
 * listeners answers the key authorization before anything else runs: never rate-limited,
 * authenticated or redirected. Unknown tokens get 404 `Challenge not found`.
 */
const PREFIX = "/.well-known/acme-challenge/";

export class ChallengeTokens {
  private readonly tokens = new Map<string, string>();

  set(token: string, keyAuthorization: string): void {
    this.tokens.set(token, keyAuthorization);
  }

  delete(token: string): void {
    this.tokens.delete(token);
  }

  get size(): number {
    return this.tokens.size;
  }

  /**
   * The answer for a challenge request, or null for every other request. `url` is the request URL
   * as Bun gives it (absolute); the check is one prefix comparison at the start of the path.
   */
  answer(url: string, method: string): Response | null {
    const scheme = url.indexOf("://");
    const pathStart = scheme < 0 ? 0 : url.indexOf("/", scheme + 3);
    if (pathStart < 0 || !url.startsWith(PREFIX, pathStart)) return null;
    const end = url.indexOf("?", pathStart);
    const token = url.slice(pathStart + PREFIX.length, end < 0 ? undefined : end);
    const keyAuthorization = this.tokens.get(token);
    return keyAuthorization === undefined ? text(404, method, "Challenge not found") : text(200, method, keyAuthorization);
  }
}

function text(status: number, method: string, body: string): Response {
  const headers = { "content-type": "text/plain", "content-length": String(Buffer.byteLength(body)) };
  return new Response(method === "HEAD" ? null : body, { status, headers });
}
