/**
 * The fallback certificate (SPEC §12.4): ECDSA P-256, CN `soli-proxy self-signed`, valid from a
 * day ago for ten years, for localhost, 127.0.0.1, ::1 and (in --dev) every app's dev alias.
 * Reused when the files on disk already cover the wanted names and the key matches.
 */
import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../lib/atomic-write.ts";
import { checkPair } from "./pair.ts";
import { sanEntries } from "./san.ts";

export const SELF_SIGNED_CN = "soli-proxy self-signed";
const BASE_NAMES = ["DNS:localhost", "IP:127.0.0.1", "IP:::1"];

export interface PemPair {
  cert: string;
  key: string;
}

export function selfSignedPaths(cacheDir: string): { cert: string; key: string } {
  return { cert: join(cacheDir, "self-signed.cert.pem"), key: join(cacheDir, "self-signed.key.pem") };
}

/** The wanted SAN set, as `DNS:`/`IP:` strings. */
export function wantedNames(extraDnsNames: readonly string[]): string[] {
  return [...BASE_NAMES, ...extraDnsNames.map((n) => `DNS:${n.toLowerCase()}`)];
}

/**
 * Loads the fallback pair from cacheDir, generating it when missing or not covering `extraDnsNames`;
 * with `exact` the files must list exactly those names (the dev alias set changed, SPEC §12.4).
 */
export async function ensureSelfSigned(
  cacheDir: string,
  extraDnsNames: readonly string[] = [],
  opts: { exact?: boolean } = {},
): Promise<PemPair & { generated: boolean }> {
  const paths = selfSignedPaths(cacheDir);
  const wanted = wantedNames(extraDnsNames);
  if (existsSync(paths.cert) && existsSync(paths.key)) {
    try {
      const cert = readFileSync(paths.cert, "utf8");
      const key = readFileSync(paths.key, "utf8");
      const have = new Set(certificateNames(cert));
      const fits = wanted.every((n) => have.has(n)) && (!opts.exact || have.size === new Set(wanted).size);
      if (fits && checkPair("localhost", cert, key).ok) return { cert, key, generated: false };
    } catch {
      // unreadable or corrupt: replaced below
    }
  }
  const pair = await generateSelfSigned(wanted);
  mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  writeFileAtomic(paths.key, pair.key, 0o600);
  writeFileAtomic(paths.cert, pair.cert, 0o644);
  return { ...pair, generated: true };
}

export async function generateSelfSigned(names: readonly string[]): Promise<PemPair> {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const day = 24 * 60 * 60 * 1000;
  const notBefore = new Date(Date.now() - day);
  const notAfter = new Date(notBefore.getTime() + 3652 * day);
  const sans = names.map((n) => (n.startsWith("IP:") ? { type: "ip" as const, value: n.slice(3) } : { type: "dns" as const, value: n.replace(/^DNS:/, "") }));
  // Loaded here, the one place it is needed, so that a proxy whose certificate exists never loads it.
  const { x509 } = await import("../lib/x509.ts");
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(positiveSerial()).toString("hex"),
    name: `CN=${SELF_SIGNED_CN}`,
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(sans),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { cert: cert.toString("pem") + "\n", key: pemEncode("PRIVATE KEY", pkcs8) };
}

/**
 * 16 random bytes read as a positive integer whose DER form is exactly these bytes: the top bit
 * clear (else it reads as negative) and the next one set (else a leading zero byte would be
 * dropped), as RFC 5280 §4.1.2.2 wants: positive, at most 20 bytes.
 */
function positiveSerial(): Uint8Array {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x3f) | 0x40;
  return bytes;
}

/** SANs of a PEM certificate as `DNS:name` / `IP:address` strings (names lower-cased). */
export function certificateNames(pem: string): string[] {
  return sanEntries(new X509Certificate(pem)).map((n) => (n.type === "ip" ? `IP:${n.value}` : `DNS:${n.value.toLowerCase()}`));
}

function pemEncode(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trimEnd();
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
