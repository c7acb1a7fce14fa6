/**
 * TLS for the running proxy: the certificates in service, the cache_dir watcher and, in
 * letsencrypt mode, the ACME manager. Every way a certificate changes (file watcher, SIGUSR1,
 * admin API, ACME, dev aliases) goes through `Certificates.reload`, which hands the set to
 * `install` only when it really changed (SPEC §12.3): this process's HTTPS listener
 * (runtime/serving.ts) or the worker processes.
 */
import type { TLSOptions } from "bun";
import { resolve } from "node:path";
import type { AppliedConfig } from "../config/applied.ts";
import type { Snapshot } from "../config/snapshot.ts";
import type { Logger } from "../lib/log.ts";
import type { AcmeManager, SharedAcmeStore } from "../tls/acme.ts";
import { Certificates, type CertificateInfo, type CertificateReload } from "../tls/certificates.ts";
import type { ChallengeTokens } from "../tls/challenge.ts";
import { acmeDirectoryUrl } from "../tls/acme-directory.ts";
import { acmeDomains } from "../tls/domains.ts";
import { watchCertificateDir, type DirectoryWatch } from "../tls/watch.ts";

export interface TlsRuntimeOptions {
  /** The configuration at start-up: [tls] and [letsencrypt] are restart-only (SPEC §13). */
  applied: AppliedConfig;
  /**
   * Receives every new certificate set: this process's HTTPS listener, or the worker processes
   * (SPEC §15.1). Throwing keeps the previous set in service (the error is logged).
   */
  install: (entries: TLSOptions[]) => void;
  challenges: ChallengeTokens;
  log: () => Logger;
}

export class TlsRuntime {
  private readonly acme: AcmeManager | null;
  private watcher: DirectoryWatch | null = null;
  private appDomains: string[] = [];
  private ruleHosts: string[] = [];

  private constructor(
    readonly cacheDir: string,
    private readonly certs: Certificates,
    opts: TlsRuntimeOptions,
    acmeModule: typeof import("../tls/acme.ts") | null,
  ) {
    certs.attach(opts.install);
    const { settings, snapshot } = opts.applied;
    const { dev } = snapshot;
    this.acme =
      acmeModule && settings.tls.mode === "letsencrypt" && !dev
        ? new acmeModule.AcmeManager({
            cacheDir,
            directoryUrl: acmeDirectoryUrl(settings.letsencrypt),
            email: settings.letsencrypt.email ?? "",
            challenges: opts.challenges,
            log: opts.log,
            index: () => certs.index(),
            install: () => this.reload(),
          })
        : null;
    this.configChanged(snapshot);
  }

  /** Loads the store, creating the fallback when needed; `tlsEntries()` is then the set to bind with. */
  static async start(opts: TlsRuntimeOptions): Promise<TlsRuntime> {
    const { settings, snapshot } = opts.applied;
    const cacheDir = resolve(snapshot.files.dir, settings.tls.cache_dir);
    const certs = await Certificates.open({ cacheDir, log: opts.log });
    // acme-client (about 20 MiB resident) is loaded only by proxies that use Let's Encrypt.
    const acmeModule = settings.tls.mode === "letsencrypt" && !snapshot.dev ? await import("../tls/acme.ts") : null;
    return new TlsRuntime(cacheDir, certs, opts, acmeModule);
  }

  /** After the listeners are up: the cache_dir watcher (when `watch`) and ACME issuance. */
  startBackground(watch: boolean, log: () => Logger): void {
    if (watch) {
      this.watcher = watchCertificateDir(
        this.cacheDir,
        () => void this.reload(),
        (err) => log().error({ dir: this.cacheDir }, `certificate directory watch failed: ${err.message}`),
      );
    }
    this.acme?.start();
  }

  /** Rescans cache_dir now; a failure is logged and reported, never thrown. */
  async reload(): Promise<CertificateReload> {
    return this.certs.reload();
  }

  /** The certificate set in service, as Bun.serve takes it (what a worker process binds with). */
  tlsEntries(): TLSOptions[] {
    return this.certs.tlsEntries();
  }

  certificates(): CertificateInfo[] {
    return this.certs.inventory();
  }

  setDevAliases(names: readonly string[]): Promise<CertificateReload> {
    return this.certs.setDevAliases(names);
  }

  /** Whether this process orders certificates (letsencrypt mode, not --dev). */
  get ordersCertificates(): boolean {
    return this.acme !== null;
  }

  /** Cluster mode: ACME uses the cluster's shared account, tokens, pairs and locks (SPEC §17.2). */
  shareAcme(store: SharedAcmeStore): void {
    this.acme?.share(store);
  }

  /** App domains to order certificates for (SPEC §12.6); the rule hosts come from the snapshot. */
  setAppDomains(domains: readonly string[]): void {
    this.appDomains = [...domains];
    this.acme?.setDomains(acmeDomains([...this.ruleHosts, ...this.appDomains]));
  }

  /** A new snapshot: its domain rules may name new hosts, ordered at once. */
  configChanged(snapshot: Snapshot): void {
    this.ruleHosts = [...snapshot.routes.domain.keys(), ...snapshot.routes.domainPath.keys()];
    this.acme?.setDomains(acmeDomains([...this.ruleHosts, ...this.appDomains]));
  }

  /** Stops what `startBackground` started: the cache_dir watcher and ACME. */
  stop(): void {
    this.watcher?.close();
    this.watcher = null;
    this.acme?.stop();
  }
}

export type { CertificateInfo, CertificateReload };
