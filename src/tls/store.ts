/**
 * The certificate store on disk (SPEC §12.1): `tls.cache_dir`, flat. `<domain>.cert.pem` with
 * `<domain>.key.pem` serve SNI `<domain>`; `_wildcard.<parent>.*` serve `*.<parent>`, one label
 * deep; `self-signed.*` is the fallback and never a domain certificate. Reading the directory is
 * all this file does: every pair is checked (tls/pair.ts) and comes back either loaded or refused
 * with the reason, so start-up, reloads and `soli-proxy check` judge the same files the same way.
 */
import { readdirSync, readFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { checkPair, type CertificateFacts } from "./pair.ts";

export const CERT_SUFFIX = ".cert.pem";
export const KEY_SUFFIX = ".key.pem";
const WILDCARD_PREFIX = "_wildcard.";
const FALLBACK_BASE = "self-signed";

/**
 * The first line of a certificate file written by our ACME client. RFC 7468 §2 allows text before
 * the PEM block and parsers skip it; it tells the inventory an ACME certificate from a dropped-in one.
 */
export const ACME_MARKER = "Issued to soli-proxy by ACME";

export interface StoredCertificate extends CertificateFacts {
  readonly certFile: string;
  readonly keyFile: string;
  /** PEM text as read (full chain); what the HTTPS listener serves. */
  readonly cert: string;
  readonly key: string;
  readonly source: "file" | "acme";
}

export interface RefusedPair {
  /** The SNI name the files would serve. */
  readonly name: string;
  readonly file: string;
  readonly error: string;
}

export interface StoreScan {
  readonly certificates: StoredCertificate[];
  readonly refused: RefusedPair[];
  /** Set when the directory itself could not be listed: the scan says nothing about the pairs. */
  readonly unreadable?: string;
}

/** `crm.example.com` → `crm.example.com`, `*.example.com` → `_wildcard.example.com`. */
export function fileBaseFor(name: string): string {
  return name.startsWith("*.") ? WILDCARD_PREFIX + name.slice(2) : name;
}

/** Certificate and key paths for an SNI name. */
export function pairPaths(cacheDir: string, name: string): { cert: string; key: string } {
  const base = fileBaseFor(name.toLowerCase());
  return { cert: join(cacheDir, base + CERT_SUFFIX), key: join(cacheDir, base + KEY_SUFFIX) };
}

/**
 * The SNI name a `*.cert.pem` file serves, lower-cased; null for the fallback and for files that
 * are not certificates. Names that cannot be host names come back with an error instead.
 */
export function nameOfFile(file: string): { name: string } | { error: string; name: string } | null {
  if (!file.endsWith(CERT_SUFFIX) || file.startsWith(".")) return null;
  const base = file.slice(0, -CERT_SUFFIX.length).toLowerCase();
  if (base === FALLBACK_BASE) return null;
  const wildcard = base.startsWith(WILDCARD_PREFIX);
  const host = wildcard ? base.slice(WILDCARD_PREFIX.length) : base;
  const name = wildcard ? `*.${host}` : host;
  if (isIP(host) && !wildcard) return { name };
  if (!HOST.test(host) || (wildcard && !host.includes("."))) return { name, error: `'${file}' is not named <domain>.cert.pem or _wildcard.<parent>.cert.pem` };
  return { name };
}

const HOST = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/** Reads and checks every pair in `cacheDir`. A missing directory is an empty store. */
export function scanStore(cacheDir: string): StoreScan {
  const certificates: StoredCertificate[] = [];
  const refused: RefusedPair[] = [];
  let files: string[];
  try {
    files = readdirSync(cacheDir).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { certificates, refused };
    const error = `cannot read the certificate directory: ${(err as Error).message}`;
    return { certificates, refused: [{ name: "*", file: cacheDir, error }], unreadable: error };
  }
  const seen = new Set<string>();
  for (const file of files) {
    const named = nameOfFile(file);
    if (!named) continue;
    const certFile = join(cacheDir, file);
    if ("error" in named) {
      refused.push({ name: named.name, file: certFile, error: named.error });
      continue;
    }
    if (seen.has(named.name)) {
      refused.push({ name: named.name, file: certFile, error: `a second certificate for '${named.name}' (file names differ only in case)` });
      continue;
    }
    seen.add(named.name);
    const loaded = loadPair(named.name, certFile, join(cacheDir, file.slice(0, -CERT_SUFFIX.length) + KEY_SUFFIX));
    if ("error" in loaded) refused.push(loaded);
    else certificates.push(loaded);
  }
  return { certificates, refused };
}

/** Reads one pair and checks it; the error names the file at fault. */
export function loadPair(name: string, certFile: string, keyFile: string): StoredCertificate | RefusedPair {
  let cert: string;
  let key: string;
  try {
    cert = readFileSync(certFile, "utf8");
  } catch (err) {
    return { name, file: certFile, error: `cannot read the certificate: ${(err as Error).message}` };
  }
  try {
    key = readFileSync(keyFile, "utf8");
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
    return {
      name,
      file: keyFile,
      error: missing ? `the private key file is missing (expected beside ${certFile})` : `cannot read the private key: ${(err as Error).message}`,
    };
  }
  const checked = checkPair(name, cert, key);
  if (!checked.ok) return { name, file: checked.error.includes("private key") ? keyFile : certFile, error: checked.error };
  return { ...checked.facts, certFile, keyFile, cert, key, source: cert.startsWith(ACME_MARKER) ? "acme" : "file" };
}

/**
 * Certificates by name, looked up the way the HTTPS listener chooses them (SPEC §12.2): exact name,
 * then the wildcard one label up. Used to decide whether ACME still has work to do.
 */
export class CertificateIndex {
  private readonly byName = new Map<string, StoredCertificate>();

  constructor(certificates: Iterable<StoredCertificate>) {
    for (const c of certificates) this.byName.set(c.name, c);
  }

  resolve(host: string): StoredCertificate | null {
    const name = host.toLowerCase();
    const exact = this.byName.get(name);
    if (exact) return exact;
    const dot = name.indexOf(".");
    return dot > 0 ? (this.byName.get(`*${name.slice(dot)}`) ?? null) : null;
  }

  /** Whether `host` is served by a certificate still valid `ms` from `now`. */
  validFor(host: string, ms: number, now = Date.now()): boolean {
    const cert = this.resolve(host);
    return cert !== null && cert.notAfter.getTime() - now > ms;
  }
}
