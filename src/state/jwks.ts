/**
 * Remote JWKS key sets (SPEC §7.4), one per URL, kept across reloads. A set is fetched on first
 * use and trusted for 10 minutes; a token whose `kid` it does not know triggers a refetch, at most
 * every 30 s, so a flood of made-up kids cannot turn into a flood of fetches. A failed fetch keeps
 * the keys already known; with no keys at all verification fails with JwksUnavailable (503), and
 * the next attempt waits 5 s. Concurrent requests share one fetch.
 */
import { createLocalJWKSet, type CryptoKey, type FlattenedJWSInput, type JWSHeaderParameters } from "jose";

export const JWKS_MAX_AGE_MS = 10 * 60_000;
export const JWKS_UNKNOWN_KID_COOLDOWN_MS = 30_000;
export const JWKS_FAILURE_COOLDOWN_MS = 5_000;
const FETCH_TIMEOUT_MS = 5_000;

/** No verification keys could be obtained: the request gets 503, not 401. */
export class JwksUnavailable extends Error {
  override name = "JwksUnavailable";
}

type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

export class RemoteJwks {
  private keys: KeyResolver | null = null;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  private lastFailed = false;
  private loading: Promise<void> | null = null;
  private lastError = "";

  constructor(
    readonly url: string,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A jose key resolver: picks the key for the token's header, fetching the set when due. */
  readonly resolve = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> => {
    const now = this.now();
    if ((this.keys === null || now - this.fetchedAt >= JWKS_MAX_AGE_MS) && this.mayFetch(now, JWKS_FAILURE_COOLDOWN_MS)) {
      await this.refresh();
    }
    if (this.keys === null) throw new JwksUnavailable(`no keys from JWKS ${this.url}: ${this.lastError || "not fetched yet"}`);
    try {
      return await this.keys(header, token);
    } catch (err) {
      const unknownKid = (err as { code?: string }).code === "ERR_JWKS_NO_MATCHING_KEY";
      if (!unknownKid || !this.mayFetch(this.now(), JWKS_UNKNOWN_KID_COOLDOWN_MS)) throw err;
      await this.refresh();
      return this.keys(header, token);
    }
  };

  private mayFetch(now: number, cooldown: number): boolean {
    if (this.loading) return true; // join the fetch in progress
    const wait = this.lastFailed ? Math.max(cooldown, JWKS_FAILURE_COOLDOWN_MS) : cooldown;
    return this.keys === null && !this.lastFailed ? true : now - this.attemptedAt >= wait;
  }

  private refresh(): Promise<void> {
    this.loading ??= this.fetchKeys().finally(() => (this.loading = null));
    return this.loading;
  }

  private async fetchKeys(): Promise<void> {
    this.attemptedAt = this.now();
    try {
      const res = await fetch(this.url, { headers: { accept: "application/json" }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const doc = (await res.json()) as { keys?: unknown };
      if (!Array.isArray(doc?.keys) || doc.keys.length === 0) throw new Error('no "keys" in the document');
      this.keys = createLocalJWKSet(doc as Parameters<typeof createLocalJWKSet>[0]);
      this.fetchedAt = this.now();
      this.lastFailed = false;
    } catch (err) {
      // Known keys stay in use; the failure only shows when there are none (503).
      this.lastFailed = true;
      this.lastError = (err as Error).message;
    }
  }
}

/** Every remote key set in use, by URL. */
export class JwksSets {
  private readonly sets = new Map<string, RemoteJwks>();

  constructor(private readonly now?: () => number) {}

  get(url: string): RemoteJwks {
    let set = this.sets.get(url);
    if (set === undefined) this.sets.set(url, (set = new RemoteJwks(url, this.now)));
    return set;
  }

  /** Forgets sets whose URL the new snapshot no longer uses. */
  prune(liveUrls: ReadonlySet<string>): void {
    for (const url of this.sets.keys()) if (!liveUrls.has(url)) this.sets.delete(url);
  }
}
