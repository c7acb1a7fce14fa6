/**
 * The fallback certificate (SPEC §12.4): ECDSA P-256, CN `soli-proxy self-signed`, valid from a
 * day ago for ten years, for localhost, 127.0.0.1, ::1 and (in --dev) every app's dev alias.
 * Reused when the files on disk already cover the wanted names and the key matches.
 */
import { generateKeyPairSync, randomBytes, sign, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../lib/atomic-write.ts";
import { ipBytes } from "../lib/net.ts";
import * as der from "./der.ts";
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

/**
 * A new key and certificate for `names`. Built with node:crypto and a few DER encodings
 * (src/tls/der.ts) rather than @peculiar/x509, whose import (with tsyringe and its ASN.1 schemas)
 * stays in the heap for the life of the process: a first start would idle about 8 MiB larger
 * (bench/memory.ts; docs/architecture.md "Memory of a started proxy").
 */
export async function generateSelfSigned(names: readonly string[]): Promise<PemPair> {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const day = 24 * 60 * 60 * 1000;
  const notBefore = new Date(Date.now() - day);
  const notAfter = new Date(notBefore.getTime() + 3652 * day);
  // RFC 5280 §4.1.2.2: a positive serial of at most 20 bytes; 16 random ones, the first below 0x80.
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  const ecdsaWithSha256 = der.sequence(der.oid("1.2.840.10045.4.3.2")); // RFC 5758 §3.2: no parameters
  const name = der.sequence(der.set(der.sequence(der.oid("2.5.4.3"), der.utf8String(SELF_SIGNED_CN))));
  const tbs = der.sequence(
    der.explicit(0, der.smallInteger(2)), // v3
    der.unsignedInteger(serial),
    ecdsaWithSha256,
    name,
    der.sequence(der.time(notBefore), der.time(notAfter)),
    name,
    publicKey.export({ type: "spki", format: "der" }),
    der.explicit(3, der.sequence(...serverExtensions(names))),
  );
  const signature = sign("sha256", tbs, privateKey); // ECDSA-Sig-Value, DER (RFC 5480 §2.2)
  const cert = der.sequence(tbs, ecdsaWithSha256, der.bitString(signature));
  return { cert: pemEncode("CERTIFICATE", cert), key: privateKey.export({ type: "pkcs8", format: "pem" }).toString() };
}

/**
 * RFC 5280 §4.2.1: basicConstraints (critical, not a CA), keyUsage (critical: digitalSignature and
 * keyEncipherment), extKeyUsage serverAuth, and subjectAltName with `DNS:`/`IP:` names.
 */
function serverExtensions(names: readonly string[]): Uint8Array[] {
  const extension = (id: string, critical: boolean, value: Uint8Array) =>
    der.sequence(der.oid(id), ...(critical ? [der.boolean(true)] : []), der.octetString(value));
  const sans = names.map((n) => {
    if (!n.startsWith("IP:")) return der.tlv(0x82, Buffer.from(n.replace(/^DNS:/, ""), "ascii")); // dNSName [2] IA5String
    const bytes = ipBytes(n.slice(3));
    if (!bytes) throw new Error(`not an IP address: ${n.slice(3)}`);
    return der.tlv(0x87, bytes); // iPAddress [7] OCTET STRING
  });
  return [
    extension("2.5.29.19", true, der.sequence()),
    // Named bits 0 and 2 in the first byte (0b101_00000), the 5 trailing zero bits unused (X.690 §11.2.2).
    extension("2.5.29.15", true, der.bitString(Uint8Array.of(0xa0), 5)),
    extension("2.5.29.37", false, der.sequence(der.oid("1.3.6.1.5.5.7.3.1"))),
    extension("2.5.29.17", false, der.sequence(...sans)),
  ];
}

/** SANs of a PEM certificate as `DNS:name` / `IP:address` strings (names lower-cased). */
export function certificateNames(pem: string): string[] {
  return sanEntries(new X509Certificate(pem)).map((n) => (n.type === "ip" ? `IP:${n.value}` : `DNS:${n.value.toLowerCase()}`));
}

function pemEncode(label: string, bytes: Uint8Array): string {
  const b64 = Buffer.from(bytes)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trimEnd();
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
