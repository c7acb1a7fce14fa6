/**
 * The certificate set as Bun.serve takes it (SPEC §12.2): one `tls` entry per name with its
 * `serverName` (exact names and `*.parent` wildcards), plus the fallback as the entry without a
 * serverName. Bun picks the exact name first, then the wildcard one label up, then the fallback,
 * and compares names case-insensitively (verified on Bun 1.4.5, test/e2e/tls-sni.test.ts).
 */
import type { TLSOptions } from "bun";
import type { PemPair } from "./self-signed.ts";
import type { StoredCertificate } from "./store.ts";

export function tlsEntries(fallback: PemPair, certificates: readonly StoredCertificate[]): TLSOptions[] {
  const entries: TLSOptions[] = [{ cert: fallback.cert, key: fallback.key }];
  for (const c of certificates) entries.push({ cert: c.cert, key: c.key, serverName: c.name });
  return entries;
}

/** Identity of a set: equal strings mean the listener already serves exactly these pairs. */
export function setSignature(fallback: PemPair, certificates: readonly StoredCertificate[]): string {
  const parts = certificates.map((c) => `${c.name}=${Bun.hash(c.cert)}/${Bun.hash(c.key)}`).sort();
  return [`fallback=${Bun.hash(fallback.cert)}/${Bun.hash(fallback.key)}`, ...parts].join(";");
}
