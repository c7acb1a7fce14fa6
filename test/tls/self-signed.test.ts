import { describe, expect, test } from "bun:test";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { certificateNames, ensureSelfSigned, generateSelfSigned, SELF_SIGNED_CN, wantedNames } from "../../src/tls/self-signed.ts";
import { tempProject } from "../support/project.ts";

describe("the self-signed fallback certificate (SPEC §12.4)", () => {
  test("is an X.509 v3 ECDSA P-256 certificate for the wanted names, signed by its own key, valid from a day ago for ten years", async () => {
    const names = wantedNames(["shop.test", "Blog.Test"]);
    const before = Date.now();
    const pair = await generateSelfSigned(names);
    const cert = new X509Certificate(pair.cert);
    const key = createPrivateKey(pair.key);

    expect(certificateNames(pair.cert)).toEqual(["DNS:localhost", "IP:127.0.0.1", "IP:::1", "DNS:shop.test", "DNS:blog.test"]);
    expect(cert.subject).toBe(`CN=${SELF_SIGNED_CN}`);
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(key)).toBe(true);
    expect(key.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1"]); // extKeyUsage serverAuth
    const day = 24 * 60 * 60 * 1000;
    const validFrom = Date.parse(cert.validFrom);
    expect(Math.abs(validFrom - (before - day))).toBeLessThan(60_000);
    expect(Date.parse(cert.validTo) - validFrom).toBe(3652 * day);
    expect(cert.serialNumber).toMatch(/^[4-7][0-9A-F]{31}$/);
    expect(pair.cert).toMatch(/^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+\n-----END CERTIFICATE-----\n$/);
    expect(pair.key).toMatch(/^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END PRIVATE KEY-----\n$/);
  });

  test("openssl reads the extensions as written: basic constraints and key usage critical, the rest not", async () => {
    using project = tempProject();
    const path = join(project.dir, "cert.pem");
    writeFileSync(path, (await generateSelfSigned(wantedNames([]))).cert);
    const proc = Bun.spawnSync(["openssl", "x509", "-in", path, "-noout", "-text"]);
    const text = proc.stdout.toString();
    expect(proc.exitCode).toBe(0);
    expect(text).toContain("Version: 3 (0x2)");
    expect(text).toContain("Signature Algorithm: ecdsa-with-SHA256");
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(text).toMatch(/X509v3 Extended Key Usage: ?\s+TLS Web Server Authentication/);
    expect(text).toMatch(/X509v3 Subject Alternative Name: ?\s+DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1/);
    // The signature verifies against the certificate's own key.
    const verify = Bun.spawnSync(["openssl", "verify", "-CAfile", path, path]);
    expect(verify.stdout.toString().trim()).toBe(`${path}: OK`);
  });

  test("serves TLS to a client that trusts it, for localhost and 127.0.0.1", async () => {
    const pair = await generateSelfSigned(wantedNames([]));
    using server = Bun.serve({ port: 0, hostname: "127.0.0.1", tls: { cert: pair.cert, key: pair.key }, fetch: () => new Response("ok") });
    for (const host of ["localhost", "127.0.0.1"]) {
      const res = await fetch(`https://${host}:${server.port}/`, { tls: { ca: pair.cert } });
      expect(await res.text()).toBe("ok");
    }
  });

  test("a certificate for many dev aliases parses and names them all", async () => {
    const aliases = Array.from({ length: 40 }, (_, i) => `app-number-${i}.test`);
    const pair = await generateSelfSigned(wantedNames(aliases));
    expect(certificateNames(pair.cert)).toEqual(wantedNames(aliases));
    expect(new X509Certificate(pair.cert).verify(new X509Certificate(pair.cert).publicKey)).toBe(true);
  });

  test("is made once and reused while it covers the wanted names; a new alias makes a new one", async () => {
    using project = tempProject();
    const first = await ensureSelfSigned(project.dir);
    const again = await ensureSelfSigned(project.dir);
    const widened = await ensureSelfSigned(project.dir, ["shop.test"]);
    expect([first.generated, again.generated, widened.generated]).toEqual([true, false, true]);
    expect(again.cert).toBe(first.cert);
    expect(certificateNames(widened.cert)).toContain("DNS:shop.test");
  });
});
