/**
 * HTTP-01 challenge answers (SPEC §5.2 step 2, RFC 8555 §8.3): while an ACME order waits for
 * validation its token is published here, and `/.well-known/acme-challenge/<token>` on the proxy
 * listeners answers the key authorization before anything else runs: never rate-limited,
 * authenticated or redirected. Unknown tokens get 404 `Challenge not found`.
 */
const PREFIX = "/.well-known/acme-challenge/";

export class ChallengeTokens {
  private readonly tokens = new Map<string, string>();
  /**
   * Where else tokens must be answered (the worker processes, SPEC §15.1); `publish` waits for it,
   * so the CA is asked to validate only once every process can answer.
   */
  relay: ((token: string, keyAuthorization: string | null) => Promise<void>) | null = null;

  /** Publishes a token here and through `relay`; resolves once every process answers it. */
  async publish(token: string, keyAuthorization: string): Promise<void> {
    this.set(token, keyAuthorization);
    await this.relay?.(token, keyAuthorization);
  }

  /** Removes a token here and through `relay`. */
  async withdraw(token: string): Promise<void> {
    this.delete(token);
    await this.relay?.(token, null);
  }

  /** The tokens published now, for a worker process that (re)starts. */
  entries(): [string, string][] {
    return [...this.tokens];
  }

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
   * The answer for a challenge request, or null for every other request. Costs one substring
   * search on the URL for requests that are not challenges.
   */
  answer(req: Request): Response | null {
    const url = req.url;
    const at = url.indexOf(PREFIX);
    if (at < 0) return null;
    // Only a path that starts with the prefix counts (Bun gives an absolute URL).
    const scheme = url.indexOf("://");
    if (url.indexOf("/", scheme < 0 ? 0 : scheme + 3) !== at) return null;
    const end = url.indexOf("?", at);
    const token = url.slice(at + PREFIX.length, end < 0 ? undefined : end);
    const keyAuthorization = this.tokens.get(token);
    return keyAuthorization === undefined ? text(404, req.method, "Challenge not found") : text(200, req.method, keyAuthorization);
  }
}

function text(status: number, method: string, body: string): Response {
  const headers = { "content-type": "text/plain", "content-length": String(Buffer.byteLength(body)) };
  return new Response(method === "HEAD" ? null : body, { status, headers });
}
