/**
 * The certificates in service: the fallback plus every good pair of the store, kept between scans
 * (ARCHITECTURE §5). A rescan (start-up, the cache_dir watcher, SIGUSR1, the admin API, a
 * certificate written by ACME) reads the directory again and, when the set changed, hands the new
 * Bun `tls` entries to the listener through `apply` (SPEC §12.3). A pair that became bad is
 * refused and the previous certificate for that name stays in service; a removed pair goes.
 */
import type { TLSOptions } from "bun";
import type { Logger } from "../lib/log.ts";
import { checkPair, type CertificateFacts } from "./pair.ts";
import { ensureSelfSigned, selfSignedPaths, type PemPair } from "./self-signed.ts";
import { setSignature, tlsEntries } from "./sni.ts";
import { CertificateIndex, scanStore, type RefusedPair, type StoredCertificate } from "./store.ts";

/** One row of `GET /api/v1/certs` (SPEC §11.2) and one `proxy_certificate_expiry_timestamp_seconds` series. */
export interface CertificateInfo {
  name: string;
  file: string;
  source: "file" | "acme" | "self-signed";
  /** RFC 3339, UTC. */
  not_after: string;
  sans: string[];
}

export interface CertificateReload {
  /** Domain certificates in service after the scan (the fallback not counted). */
  count: number;
  /** Pairs refused by this scan; each was logged with its file. */
  refused: RefusedPair[];
}

/** Receives the new `tls` entries; throws when they cannot be served (the old set then stays). */
export type ApplyTls = (entries: TLSOptions[]) => void;

export interface CertificatesOptions {
  cacheDir: string;
  log: () => Logger;
  /** `.test` aliases the fallback must also cover (--dev, SPEC §12.4). */
  devAliases?: readonly string[];
}

const FALLBACK_NAME = "self-signed";

export class Certificates {
  private fallback!: PemPair & { facts: CertificateFacts };
  private served: StoredCertificate[] = [];
  private signature = "";
  private lookup = new CertificateIndex([]);
  private aliases: readonly string[];
  /** The next scan must regenerate the fallback unless it lists exactly the aliases. */
  private aliasesChanged = false;
  private apply: ApplyTls | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly opts: CertificatesOptions) {
    this.aliases = normalizeAliases(opts.devAliases ?? []);
  }

  /** Makes sure the fallback exists and loads the store once; listeners are attached afterwards. */
  static async open(opts: CertificatesOptions): Promise<Certificates> {
    const certificates = new Certificates(opts);
    await certificates.reload();
    return certificates;
  }

  /** The entries for a new HTTPS listener. */
  tlsEntries(): TLSOptions[] {
    return tlsEntries(this.fallback, this.served);
  }

  /** From now on a changed set is handed to `apply` (the listener swap). */
  attach(apply: ApplyTls): void {
    this.apply = apply;
  }

  /** Rescans cache_dir and installs what changed. Scans run one at a time, in call order. */
  reload(): Promise<CertificateReload> {
    const run = this.queue.then(() => this.rescan());
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Sets the dev aliases the fallback covers, regenerating it when the set changed (SPEC §12.4). */
  setDevAliases(names: readonly string[]): Promise<CertificateReload> {
    const next = normalizeAliases(names);
    if (next.join(",") !== this.aliases.join(",")) {
      this.aliases = next;
      this.aliasesChanged = true;
    }
    return this.reload();
  }

  index(): CertificateIndex {
    return this.lookup;
  }

  inventory(): CertificateInfo[] {
    const fallback: CertificateInfo = {
      name: FALLBACK_NAME,
      file: selfSignedPaths(this.opts.cacheDir).cert,
      source: "self-signed",
      not_after: rfc3339(this.fallback.facts.notAfter),
      sans: [...this.fallback.facts.sans],
    };
    const rows = this.served.map(
      (c): CertificateInfo => ({ name: c.name, file: c.certFile, source: c.source, not_after: rfc3339(c.notAfter), sans: [...c.sans] }),
    );
    return [fallback, ...rows.sort((a, b) => a.name.localeCompare(b.name))];
  }

  private async rescan(): Promise<CertificateReload> {
    const log = this.opts.log();
    let fallback: Certificates["fallback"];
    try {
      fallback = await this.loadFallback(log);
    } catch (err) {
      if (!this.fallback) throw err; // start-up: no HTTPS without a fallback
      log.error({ dir: this.opts.cacheDir }, `${(err as Error).message}; keeping the fallback in service`);
      fallback = this.fallback;
    }

    const scan = scanStore(this.opts.cacheDir);
    if (scan.unreadable && this.fallback) {
      log.error({ dir: this.opts.cacheDir }, `${scan.unreadable}; keeping the certificates in service`);
      return { count: this.served.length, refused: scan.refused };
    }
    const previous = new Map(this.served.map((c) => [c.name, c]));
    const next = [...scan.certificates];
    for (const bad of scan.refused) {
      const kept = previous.get(bad.name);
      if (kept) next.push(kept);
      log.error(
        { file: bad.file, name: bad.name },
        `certificate ${bad.file} refused: ${bad.error}${kept ? `; still serving the previous certificate for ${bad.name}` : ""}`,
      );
    }
    const now = Date.now();
    for (const c of next) {
      const before = previous.get(c.name);
      if (c.notAfter.getTime() <= now && before?.fingerprint !== c.fingerprint) {
        log.warn(
          { file: c.certFile, name: c.name, not_after: rfc3339(c.notAfter) },
          `certificate ${c.certFile} expired on ${rfc3339(c.notAfter)}; serving it anyway`,
        );
      }
    }

    const signature = setSignature(fallback, next);
    if (signature !== this.signature) {
      if (this.apply) {
        try {
          this.apply(tlsEntries(fallback, next));
        } catch (err) {
          log.error({ dir: this.opts.cacheDir }, `could not serve the new certificate set, keeping the previous one: ${(err as Error).message}`);
          return { count: this.served.length, refused: scan.refused };
        }
      }
      const names = next.map((c) => c.name).sort();
      if (this.signature !== "") log.info({ count: next.length, names }, `certificates reloaded: ${next.length} in service`);
      else log.info({ count: next.length, names }, `certificates loaded: ${next.length} in service`);
      this.signature = signature;
    }
    this.fallback = fallback;
    this.served = next;
    this.lookup = new CertificateIndex(next);
    return { count: next.length, refused: scan.refused };
  }

  private async loadFallback(log: Logger): Promise<Certificates["fallback"]> {
    let made;
    try {
      made = await ensureSelfSigned(this.opts.cacheDir, this.aliases, { exact: this.aliasesChanged });
      this.aliasesChanged = false;
    } catch (err) {
      throw new Error(`cannot write the self-signed fallback in ${this.opts.cacheDir}: ${(err as Error).message}`);
    }
    if (made.generated) log.info({ dir: this.opts.cacheDir, aliases: this.aliases }, "generated self-signed fallback certificate");
    const checked = checkPair("localhost", made.cert, made.key);
    if (!checked.ok) throw new Error(`the self-signed fallback in ${this.opts.cacheDir} is unusable: ${checked.error}`);
    return { cert: made.cert, key: made.key, facts: checked.facts };
  }
}

function normalizeAliases(names: readonly string[]): string[] {
  return [...new Set(names.map((n) => n.toLowerCase()))].sort();
}

function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}
