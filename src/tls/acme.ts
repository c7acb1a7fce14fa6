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
 *
 * In cluster mode (SPEC §17.2) a `SharedAcmeStore` holds the account, the tokens and the issued
 * certificates for every node, and a per-domain lock makes one order per domain per cluster: a
 * node that finds the lock taken waits for the holder's certificate instead of ordering.
 */
import "../lib/x509.ts"; // reflect-metadata before acme-client loads its own @peculiar/x509
import * as acme from "acme-client";
import { writeFileAtomic } from "../lib/atomic-write.ts";
import type { Logger } from "../lib/log.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ACCOUNT_FILE, openAccount, usableAccount } from "./acme-account.ts";
import type { ChallengeTokens } from "./challenge.ts";
import { checkPair } from "./pair.ts";
import { ACME_MARKER, pairPaths, type CertificateIndex } from "./store.ts";

export { LETSENCRYPT_PRODUCTION, LETSENCRYPT_STAGING } from "./acme-directory.ts";

const DAY = 86_400_000;
const HOUR = 3_600_000;

/** A lock on one domain's order, held while the order runs (refreshed by its owner). */
export interface OrderLock {
  release(): Promise<void>;
}

/** Where a cluster keeps what every node's ACME needs (SPEC §17.2); Redis in practice. */
export interface SharedAcmeStore {
  /** The shared account file text, or null. */
  account(): Promise<string | null>;
  /** Stores this node's account; `replace` when the shared one was missing or unusable. */
  saveAccount(text: string, replace: boolean): Promise<void>;
  /**
   * The lock for `domain`, or null when another node holds it (it is ordering) or when the store
   * already has a certificate valid for more than `renewBeforeMs` (it is on its way to this node).
   */
  lock(domain: string, renewBeforeMs: number): Promise<OrderLock | null>;
  /** Makes a token answerable by every node. */
  publishToken(token: string, keyAuthorization: string): Promise<void>;
  withdrawToken(token: string): Promise<void>;
  /** Hands an issued pair to every node. */
  storeCertificate(domain: string, chain: string, key: string): Promise<void>;
  /** Time for every node to pick up a published token before the CA is asked to validate. */
  readonly tokenSpreadMs: number;
  /** How soon to look again at a domain another node is ordering. */
  readonly waitForOtherMs: number;
}

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
  /** Cluster mode: the shared account, tokens, certificates and order locks. */
  shared?: SharedAcmeStore | null;
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

  /** Cluster mode: from now on the account, tokens, pairs and locks are shared (SPEC §17.2). */
  share(store: SharedAcmeStore): void {
    this.opts.shared = store;
  }

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
      this.client ??= await this.account(log);
    } catch (err) {
      for (const domain of due) this.failed(domain, err);
      return;
    }
    for (const domain of due) {
      if (this.stopped) return;
      let lock: OrderLock | null | undefined = null;
      try {
        lock = await this.lockFor(domain);
      } catch (err) {
        log.warn({ domain, err: (err as Error).message }, `cannot take the cluster lock for ${domain}; ordering from this node`);
      }
      if (lock === undefined) continue;
      try {
        await this.issue(this.client, domain);
        this.retryAt.delete(domain);
      } catch (err) {
        this.failed(domain, err);
      } finally {
        await lock?.release().catch(() => undefined);
      }
    }
  }

  /**
   * The cluster lock for a domain (null when there is no cluster), or undefined when another node
   * holds it: that node orders, its certificate arrives through the store, and this node looks
   * again soon in case the holder died (its lock expires).
   */
  private async lockFor(domain: string): Promise<OrderLock | null | undefined> {
    const shared = this.opts.shared;
    if (!shared) return null;
    const lock = await shared.lock(domain, this.opts.renewBeforeMs ?? 30 * DAY);
    if (lock !== null) return lock;
    this.opts.log().info({ domain }, `the certificate for ${domain} is being ordered or was issued by another node; waiting for it`);
    this.retryAt.set(domain, Date.now() + shared.waitForOtherMs);
    setTimeout(() => void this.check(), shared.waitForOtherMs).unref?.();
    return undefined;
  }

  /** The ACME account: the cluster's when there is one (SPEC §17.2), else this node's own. */
  private async account(log: Logger): Promise<acme.Client> {
    const shared = this.opts.shared;
    const path = join(this.opts.cacheDir, ACCOUNT_FILE);
    let remote: string | null = null;
    if (shared) {
      remote = await shared.account().catch(() => null);
      if (remote !== null && usableAccount(remote)) {
        if (readOrNull(path) !== remote) writeFileAtomic(path, remote, 0o600);
      } else if (remote !== null) {
        log.warn("the cluster's stored ACME account is not usable; replacing it with this node's");
      }
    }
    const client = await openAccount({
      cacheDir: this.opts.cacheDir,
      directoryUrl: this.opts.directoryUrl,
      email: this.opts.email,
      log,
      pollMs: this.opts.pollMs,
    });
    const local = readOrNull(path);
    if (shared && local !== null && local !== remote) await shared.saveAccount(local, remote === null || !usableAccount(remote)).catch(() => undefined);
    return client;
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
        const shared = this.opts.shared;
        if (shared) {
          // Every node answers it: the CA may reach any of them (SPEC §17.2).
          await shared.publishToken(challenge.token, keyAuthorization);
          await Bun.sleep(shared.tokenSpreadMs);
        }
        await client.completeChallenge(challenge);
        await client.waitForValidStatus(challenge);
      }
    } finally {
      for (const token of published) {
        void this.opts.challenges.withdraw(token);
        void this.opts.shared?.withdrawToken(token).catch(() => undefined);
      }
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
    await this.opts.shared?.storeCertificate(domain, chain, key.toString()).catch((err: Error) => {
      log.warn({ domain, err: err.message }, `certificate for ${domain} not stored in the cluster; the other nodes order their own`);
    });
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

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** acme-client turns a lost connection into a TypeError about `response.config`; say what it means. */
function describe(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof TypeError && message.includes("config")) return "the connection to the ACME server failed";
  return message;
}
