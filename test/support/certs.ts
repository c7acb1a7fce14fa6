/**
 * Test certificates made on the fly with @peculiar/x509: a CA and leaves it signs, for names,
 * wildcards and mismatched keys. Nothing is checked in; nothing expires mid-run.
 */
import { x509 } from "../../src/lib/x509.ts";

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

export interface TestCa {
  cert: string;
  keys: CryptoKeyPair;
  name: string;
}

export interface Leaf {
  cert: string;
  key: string;
}

function serial(): string {
  return "01" + Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex");
}

async function pemKey(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await crypto.subtle.exportKey("pkcs8", key)).toString("base64");
  return `-----BEGIN PRIVATE KEY-----\n${der.replace(/(.{64})/g, "$1\n").trimEnd()}\n-----END PRIVATE KEY-----\n`;
}

export async function makeCa(name = "soli test CA"): Promise<TestCa> {
  const keys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - 86_400_000),
    notAfter: new Date(Date.now() + 30 * 86_400_000),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return { cert: cert.toString("pem") + "\n", keys, name };
}

/** A leaf for `names` (DNS names, or IP addresses) signed by `ca`. `expired` makes it already past notAfter. */
export async function makeLeaf(ca: TestCa, names: string[], opts: { expired?: boolean } = {}): Promise<Leaf> {
  const keys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${names[0]}`,
    issuer: `CN=${ca.name}`,
    notBefore: new Date(now - (opts.expired ? 10 : 1) * 86_400_000),
    notAfter: new Date(now + (opts.expired ? -1 : 20) * 86_400_000),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        names.map((n) => (/^[\d.]+$|:/.test(n) ? { type: "ip" as const, value: n } : { type: "dns" as const, value: n })),
      ),
    ],
  });
  return { cert: cert.toString("pem") + "\n", key: await pemKey(keys.privateKey) };
}

/** A fresh private key that matches no certificate (for mismatched-pair tests). */
export async function strayKey(): Promise<string> {
  const keys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  return pemKey(keys.privateKey);
}
