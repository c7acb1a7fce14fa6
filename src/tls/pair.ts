/**
 * One certificate/key pair checked the way SPEC §12.1 asks: the certificate parses (the first PEM
 * block is the leaf; the rest of a full chain is passed along untouched), its SANs list the name
 * it is stored under, the private key belongs to it, and the TLS library accepts the two together.
 * Expiry is reported, not refused.
 */
import { createHash, createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { createSecureContext } from "node:tls";
import { sanEntries } from "./san.ts";

/** What the store knows about a pair that passed the checks. */
export interface CertificateFacts {
  /** Lower-case SNI name: `crm.example.com` or `*.example.com`. */
  readonly name: string;
  /** SANs as written in the certificate (`DNS:` names lower-cased, IPs as text), without prefixes. */
  readonly sans: readonly string[];
  readonly notAfter: Date;
  readonly notBefore: Date;
  /** SHA-256 of the leaf DER, hex: tells a replaced certificate from an unchanged one. */
  readonly fingerprint: string;
}

export type PairCheck = { ok: true; facts: CertificateFacts } | { ok: false; error: string };

const LEAF = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/;

/**
 * Checks `certPem`/`keyPem` for `name`. Errors say what is wrong without the file name; the caller
 * adds where it came from.
 */
export function checkPair(name: string, certPem: string, keyPem: string): PairCheck {
  const leafPem = LEAF.exec(certPem)?.[0];
  if (!leafPem) return { ok: false, error: "the certificate file holds no PEM certificate" };
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(leafPem);
  } catch (err) {
    return { ok: false, error: `the certificate does not parse (${(err as Error).message.split("\n")[0]})` };
  }
  const sans = subjectAltNames(cert);
  if (!coversName(sans, name)) {
    return { ok: false, error: `the certificate's subjectAltName does not list '${name}' (it lists ${sans.length ? sans.join(", ") : "nothing"})` };
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    return { ok: false, error: `the private key does not parse (${(err as Error).message.split("\n")[0]})` };
  }
  if (!cert.checkPrivateKey(key)) {
    return { ok: false, error: "the private key does not match the certificate" };
  }
  try {
    // What Bun.serve will do with the pair: a pair refused here would make the listener swap fail.
    createSecureContext({ cert: certPem, key: keyPem });
  } catch (err) {
    return { ok: false, error: `the TLS library refuses the pair (${(err as Error).message})` };
  }
  const fingerprint = createHash("sha256").update(cert.raw).digest("hex");
  return { ok: true, facts: { name, sans, notAfter: cert.validToDate, notBefore: cert.validFromDate, fingerprint } };
}

/** DNS names (lower-cased) and IP addresses of the certificate's subjectAltName extension. */
export function subjectAltNames(cert: X509Certificate): string[] {
  return sanEntries(cert).map((n) => (n.type === "dns" ? n.value.toLowerCase() : n.value));
}

/** An exact SAN match, compared case-insensitively; a wildcard name must be listed as the wildcard itself. */
function coversName(sans: readonly string[], name: string): boolean {
  if (isIP(name)) return sans.includes(name);
  return sans.includes(name.toLowerCase());
}
