/**
 * Certificates across nodes (SPEC §17.2): the ACME account, HTTP-01 tokens, issued pairs and the
 * per-domain order locks, in Redis.
 *
 *   <cluster>:acme:account        the account file text (as account_credentials.json)
 *   <cluster>:acme:lock:<domain>  SET NX PX by the ordering node, refreshed while it works
 *   <cluster>:acme:tokens         hash token → key authorization, while orders wait for the CA
 *   <cluster>:certs               hash domain → {"cert","key"} of every issued pair
 *   <cluster>:certs:version       INCR on every stored pair
 *
 * Every node polls once a second: tokens are mirrored into its challenge map (and so to its
 * workers), and a stored pair newer than the one on disk is verified (SPEC §17.7), written to
 * cache_dir and installed through the certificate reload of SPEC §12.3. Nothing read is used
 * before it is checked like a file dropped into cache_dir.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { writeFileAtomic } from "../lib/atomic-write.ts";
import type { Logger } from "../lib/log.ts";
import type { OrderLock, SharedAcmeStore } from "../tls/acme.ts";
import type { ChallengeTokens } from "../tls/challenge.ts";
import { checkPair } from "../tls/pair.ts";
import { ACME_MARKER, pairPaths } from "../tls/store.ts";
import type { RedisLink } from "./redis.ts";

const MAX_PAIR_BYTES = 64 * 1024;
const MAX_ACCOUNT_BYTES = 64 * 1024;
const MAX_ENTRIES = 1000;
const POLL_MS = 1_000;
const DOMAIN = /^(\*\.)?[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?)*$/;
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

const REFRESH = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

export interface AcmeStoreOptions {
  redis: RedisLink;
  cluster: string;
  nodeId: string;
  cacheDir: string;
  challenges: ChallengeTokens;
  /** Installs pairs just written to cache_dir (the certificate reload). */
  install: () => Promise<unknown>;
  /** A lock expires this long after its holder stopped refreshing it (3 heartbeats). */
  lockTtlMs: number;
  log: () => Logger;
}

export class RedisAcmeStore implements SharedAcmeStore {
  readonly tokenSpreadMs = 2 * POLL_MS;
  readonly waitForOtherMs: number;
  private readonly mirrored = new Set<string>();
  private seenVersion = -1;
  private timer: ReturnType<typeof setInterval> | null = null;
  private polling: Promise<void> | null = null;

  constructor(private readonly o: AcmeStoreOptions) {
    this.waitForOtherMs = Math.max(2 * POLL_MS, o.lockTtlMs);
  }

  start(): void {
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    void this.poll();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** After a reconnect: read every stored pair again (SPEC §17.6). */
  resync(): void {
    this.seenVersion = -1;
    void this.poll();
  }

  async account(): Promise<string | null> {
    const text = await this.o.redis.send("GET", [this.key("acme:account")]);
    return typeof text === "string" && text.length <= MAX_ACCOUNT_BYTES ? text : null;
  }

  async saveAccount(text: string, replace: boolean): Promise<void> {
    await this.o.redis.send("SET", [this.key("acme:account"), text, ...(replace ? [] : ["NX"])]);
  }

  async lock(domain: string, renewBeforeMs: number): Promise<OrderLock | null> {
    const stored = this.parsePair(domain, await this.o.redis.send("HGET", [this.key("certs"), domain]));
    if (stored !== null && stored.notAfter - Date.now() > renewBeforeMs) {
      this.resync(); // it is in Redis but not here yet
      return null;
    }
    const key = this.key(`acme:lock:${domain}`);
    const owner = `${this.o.nodeId}:${randomUUID()}`;
    const ttl = String(this.o.lockTtlMs);
    const taken = await this.o.redis.send("SET", [key, owner, "NX", "PX", ttl]);
    if (taken !== "OK") return null;
    const refresh = setInterval(
      () => void this.o.redis.send("EVAL", [REFRESH, "1", key, owner, ttl]).catch(() => undefined),
      Math.max(250, this.o.lockTtlMs / 3),
    );
    return {
      release: async () => {
        clearInterval(refresh);
        await this.o.redis.send("EVAL", [RELEASE, "1", key, owner]);
      },
    };
  }

  async publishToken(token: string, keyAuthorization: string): Promise<void> {
    await this.o.redis.send("HSET", [this.key("acme:tokens"), token, keyAuthorization]);
  }

  async withdrawToken(token: string): Promise<void> {
    await this.o.redis.send("HDEL", [this.key("acme:tokens"), token]);
  }

  async storeCertificate(domain: string, chain: string, key: string): Promise<void> {
    await this.o.redis.send("HSET", [this.key("certs"), domain, JSON.stringify({ cert: chain, key, node_id: this.o.nodeId })]);
    await this.o.redis.send("INCR", [this.key("certs:version")]);
  }

  private poll(): Promise<void> {
    if (!this.o.redis.up) return Promise.resolve();
    this.polling ??= (async () => {
      try {
        await this.mirrorTokens();
        await this.pullCertificates();
      } catch {
        // The link reports outages; the next poll tries again.
      } finally {
        this.polling = null;
      }
    })();
    return this.polling;
  }

  /** Tokens published by any node are answered here too (SPEC §17.2). */
  private async mirrorTokens(): Promise<void> {
    const raw = await this.o.redis.send("HGETALL", [this.key("acme:tokens")]);
    const wanted = new Map<string, string>();
    for (const [token, ka] of entries(raw)) {
      // A key authorization is "<token>.<thumbprint>" (RFC 8555 §8.1); anything else is not served.
      if (wanted.size < MAX_ENTRIES && TOKEN.test(token) && typeof ka === "string" && ka.length <= 1024 && ka.startsWith(`${token}.`)) wanted.set(token, ka);
    }
    for (const [token, ka] of wanted) {
      if (this.mirrored.has(token)) continue;
      this.mirrored.add(token);
      await this.o.challenges.publish(token, ka);
    }
    for (const token of this.mirrored) {
      if (wanted.has(token)) continue;
      this.mirrored.delete(token);
      await this.o.challenges.withdraw(token);
    }
  }

  /** Stored pairs newer than what cache_dir holds are verified, written and installed. */
  private async pullCertificates(): Promise<void> {
    const version = Number(await this.o.redis.send("GET", [this.key("certs:version")]));
    if (!Number.isSafeInteger(version) || version === this.seenVersion) return;
    const raw = await this.o.redis.send("HGETALL", [this.key("certs")]);
    let written = 0;
    let count = 0;
    for (const [domain, value] of entries(raw)) {
      if (++count > MAX_ENTRIES) break;
      const pair = this.parsePair(domain, value);
      if (pair === null) {
        this.o
          .log()
          .warn({ domain: domain.slice(0, 100) }, `cluster: ignoring the stored certificate for ${domain.slice(0, 100)}: not a valid pair for that name`);
        continue;
      }
      const paths = pairPaths(this.o.cacheDir, domain);
      const local = localNotAfter(domain, paths);
      if (local !== null && local >= pair.notAfter) continue;
      writeFileAtomic(paths.key, pair.key, 0o600);
      writeFileAtomic(paths.cert, `${ACME_MARKER} through cluster ${this.o.cluster}\n${pair.cert}`, 0o644);
      this.o.log().info({ domain }, `cluster: certificate for ${domain} taken from the cluster store`);
      written++;
    }
    this.seenVersion = version;
    if (written > 0) await this.o.install();
  }

  /** A stored value as a verified pair for `domain`, or null (SPEC §17.7). */
  private parsePair(domain: string, value: unknown): { cert: string; key: string; notAfter: number } | null {
    if (!DOMAIN.test(domain) || typeof value !== "string" || value.length > MAX_PAIR_BYTES) return null;
    let parsed: { cert?: unknown; key?: unknown };
    try {
      parsed = JSON.parse(value) as typeof parsed;
    } catch {
      return null;
    }
    if (typeof parsed.cert !== "string" || typeof parsed.key !== "string") return null;
    const checked = checkPair(domain, parsed.cert, parsed.key);
    if (!checked.ok) return null;
    return { cert: parsed.cert, key: parsed.key, notAfter: checked.facts.notAfter.getTime() };
  }

  private key(suffix: string): string {
    return `${this.o.cluster}:${suffix}`;
  }
}

/** HGETALL's answer as pairs, whichever shape the client gives (object, or a flat array). */
function entries(raw: unknown): [string, unknown][] {
  if (Array.isArray(raw)) {
    const out: [string, unknown][] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) out.push([String(raw[i]), raw[i + 1]]);
    return out;
  }
  if (raw !== null && typeof raw === "object") return Object.entries(raw as Record<string, unknown>);
  return [];
}

/** notAfter of the valid pair on disk for `domain`, or null when there is none. */
function localNotAfter(domain: string, paths: { cert: string; key: string }): number | null {
  try {
    const checked = checkPair(domain, readFileSync(paths.cert, "utf8"), readFileSync(paths.key, "utf8"));
    return checked.ok ? checked.facts.notAfter.getTime() : null;
  } catch {
    return null;
  }
}
