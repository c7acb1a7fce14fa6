/**
 * Certificates from an ACME CA (SPEC §12.6), HTTP-01 only. In the background after start-up, and
 * every 12 hours, each domain without a certificate in the store valid for more than 30 days is
 * ordered: one identifier per order, the token published in the challenge map (answered by the
 * plain listener before routing), poll until valid, finalize with a new P-256 key, write
 * `<domain>.key.pem` (0600) and `<domain>.cert.pem` (full chain) atomically, then install them
 * through the same certificate reload as a file dropped into cache_dir. A failed domain is logged
 * with the reason and not tried again for an hour; serving goes on with what the store has.
 *
 * acme-client 5.4 does not expose ACME Renewal Information (RFC 9773), so the 30-day rule decides.
 */
import "../lib/x509.ts"; // reflect-metadata before acme-client loads its own @peculiar/x509
import * as acme from "acme-client";
import { writeFileAtomic } from "../lib/atomic-write.ts";
import type { Logger } from "../lib/log.ts";
import { openAccount } from "./acme-account.ts";
import type { ChallengeTokens } from "./challenge.ts";
import { checkPair } from "./pair.ts";
import { ACME_MARKER, pairPaths, type CertificateIndex } from "./store.ts";

export const LETSENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory";
export const LETSENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory";

const DAY = 86_400_000;
const HOUR = 3_600_000;

export interface AcmeOptions {
  cacheDir: string;
  directoryUrl: string;
  email: string;
  challenges: ChallengeTokens;
  log: () => Logger;
  /** The certificates in service, to see which domains still need one. */
  index: () => CertificateIndex;
  /** Installs what was just written (the certificate reload of SPEC §12.3). */
  install: () => Promise<unknown>;
  /** Renew when less than this remains (default 30 days). */
  renewBeforeMs?: number;
  /** How long a failed domain waits before it is tried again (default 1 hour). */
  retryAfterMs?: number;
  /** Interval of the renewal check (default 12 hours). */
  checkEveryMs?: number;
  /** First poll delay while the CA validates or issues (default 1 s). */
  pollMs?: number;
}

export class AcmeManager {
  private domains: string[] = [];
  private readonly retryAt = new Map<string, number>();
  private running: Promise<void> | null = null;
  private again = false;
  private timer: ReturnType<typeof setInterval> | null = null;
  private client: acme.Client | null = null;
  private stopped = false;

  constructor(private readonly opts: AcmeOptions) {}

  /** Replaces the domain list; new domains are ordered at once when the manager runs. */
  setDomains(domains: readonly string[]): void {
    const added = domains.some((d) => !this.domains.includes(d));
    this.domains = [...domains];
    if (added && this.timer) void this.check();
  }

  /** Starts the first pass now and the renewal check every 12 hours. */
  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => void this.check(), this.opts.checkEveryMs ?? 12 * HOUR);
    (this.timer as { unref?: () => void }).unref?.();
    void this.check();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One pass over every domain; a call during a pass runs another pass after it. */
  check(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.pass();
      } while (this.again && !this.stopped);
    })().finally(() => (this.running = null));
    return this.running;
  }

  private async pass(): Promise<void> {
    const renewBefore = this.opts.renewBeforeMs ?? 30 * DAY;
    const due = this.domains.filter((d) => !this.opts.index().validFor(d, renewBefore) && (this.retryAt.get(d) ?? 0) <= Date.now());
    if (due.length === 0 || this.stopped) return;
    const log = this.opts.log();
    try {
      await this.reachable();
      this.client ??= await openAccount({ cacheDir: this.opts.cacheDir, directoryUrl: this.opts.directoryUrl, email: this.opts.email, log, pollMs: this.opts.pollMs });
    } catch (err) {
      for (const domain of due) this.failed(domain, err);
      return;
    }
    for (const domain of due) {
      if (this.stopped) return;
      try {
        await this.issue(this.client, domain);
        this.retryAt.delete(domain);
      } catch (err) {
        this.failed(domain, err);
      }
    }
  }

  /**
   * Asks the directory first: acme-client reports an unreachable server as a TypeError from deep
   * inside axios after half a minute of retries, which says nothing about what went wrong.
   */
  private async reachable(): Promise<void> {
    const url = this.opts.directoryUrl;
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(15_000) });
    } catch (err) {
      throw new Error(`ACME directory ${url} unreachable: ${(err as Error).message}`);
    }
    const body = await res.text();
    if (res.status !== 200) throw new Error(`ACME directory ${url} answered ${res.status}: ${body.slice(0, 200)}`);
    try {
      if (typeof (JSON.parse(body) as { newOrder?: unknown }).newOrder !== "string") throw new Error("no newOrder");
    } catch {
      throw new Error(`ACME directory ${url} is not an ACME directory: ${body.slice(0, 200)}`);
    }
  }

  private async issue(client: acme.Client, domain: string): Promise<void> {
    const log = this.opts.log();
    log.info({ domain }, `ordering a certificate for ${domain}`);
    const order = await client.createOrder({ identifiers: [{ type: "dns", value: domain }] });
    const published: string[] = [];
    try {
      for (const authz of await client.getAuthorizations(order)) {
        if (authz.status === "valid") continue;
        const challenge = authz.challenges.find((c) => c.type === "http-01");
        if (!challenge) throw new Error(`the CA offers no http-01 challenge (offered: ${authz.challenges.map((c) => c.type).join(", ")})`);
        const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
        published.push(challenge.token);
        await this.opts.challenges.publish(challenge.token, keyAuthorization); // every worker answers it first (SPEC §12.6)
        await client.completeChallenge(challenge);
        await client.waitForValidStatus(challenge);
      }
    } finally {
      for (const token of published) void this.opts.challenges.withdraw(token);
    }
    const [key, csr] = await acme.crypto.createCsr({ commonName: domain, altNames: [domain] }, await acme.crypto.createPrivateEcdsaKey("P-256"));
    const finalized = await client.finalizeOrder(order, csr);
    const chain = await client.getCertificate(finalized);
    const checked = checkPair(domain, chain, key.toString());
    if (!checked.ok) throw new Error(`the CA returned an unusable certificate: ${checked.error}`);
    const paths = pairPaths(this.opts.cacheDir, domain);
    writeFileAtomic(paths.key, key, 0o600);
    writeFileAtomic(paths.cert, `${ACME_MARKER} ${this.opts.directoryUrl} on ${new Date().toISOString()}\n${chain}`, 0o644);
    log.info({ domain, file: paths.cert, not_after: checked.facts.notAfter.toISOString() }, `certificate for ${domain} issued`);
    await this.opts.install();
  }

  private failed(domain: string, err: unknown): void {
    const retryMs = this.opts.retryAfterMs ?? HOUR;
    this.retryAt.set(domain, Date.now() + retryMs);
    this.client = null; // register again next time, in case the CA no longer knows the account
    const message = describe(err);
    const wait = retryMs >= 60_000 ? `${Math.round(retryMs / 60_000)} min` : `${Math.round(retryMs / 1000)} s`;
    this.opts.log().error({ domain, err: message }, `certificate for ${domain} not issued: ${message}; next attempt in ${wait}`);
  }
}

/** acme-client turns a lost connection into a TypeError about `response.config`; say what it means. */
function describe(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof TypeError && message.includes("config")) return "the connection to the ACME server failed";
  return message;
}
