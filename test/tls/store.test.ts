import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { x509 } from "../../src/lib/x509.ts";
import { ChallengeTokens } from "../../src/tls/challenge.ts";
import { acmeDomains, isPubliclyNameable } from "../../src/tls/domains.ts";
import { ACME_MARKER, CertificateIndex, nameOfFile, pairPaths, scanStore } from "../../src/tls/store.ts";
import { makeCa, makeLeaf, strayKey } from "../support/certs.ts";
import { tempProject } from "../support/project.ts";
import { writePair } from "../support/tls.ts";

describe("certificate store file names (SPEC §12.1)", () => {
  test("maps files to lower-cased SNI names, wildcards one label up, and skips the fallback and other files", () => {
    const cases = [
      "crm.example.com.cert.pem",
      "CRM.Example.COM.cert.pem",
      "_wildcard.example.com.cert.pem",
      "self-signed.cert.pem",
      "crm.example.com.key.pem",
      "account_credentials.json",
      ".tmp.cert.pem",
      "127.0.0.1.cert.pem",
      "_wildcard.com.cert.pem",
      "bad name!.cert.pem",
    ];
    expect(cases.map((f) => nameOfFile(f))).toEqual([
      { name: "crm.example.com" },
      { name: "crm.example.com" },
      { name: "*.example.com" },
      null,
      null,
      null,
      null,
      { name: "127.0.0.1" },
      { name: "*.com", error: "'_wildcard.com.cert.pem' is not named <domain>.cert.pem or _wildcard.<parent>.cert.pem" },
      { name: "bad name!", error: "'bad name!.cert.pem' is not named <domain>.cert.pem or _wildcard.<parent>.cert.pem" },
    ]);
    expect([pairPaths("/c", "*.Example.com"), pairPaths("/c", "a.b")]).toEqual([
      { cert: "/c/_wildcard.example.com.cert.pem", key: "/c/_wildcard.example.com.key.pem" },
      { cert: "/c/a.b.cert.pem", key: "/c/a.b.key.pem" },
    ]);
  });
});

describe("certificate store scan (SPEC §12.1)", () => {
  test("loads good pairs and refuses each bad one with the file at fault and the reason", async () => {
    using project = tempProject();
    const dir = join(project.dir, "certs");
    const ca = await makeCa();
    const exact = await makeLeaf(ca, ["crm.example.test"]);
    const wild = await makeLeaf(ca, ["*.example.test"]);
    const expired = await makeLeaf(ca, ["old.example.test"], { expired: true });
    const other = await makeLeaf(ca, ["other.example.test"]);
    writePair(dir, "crm.example.test", exact);
    writePair(dir, "_wildcard.example.test", wild);
    writePair(dir, "old.example.test", expired);
    writePair(dir, "nosan.example.test", other); // SAN lists another name
    writePair(dir, "mismatch.example.test", { cert: exact.cert, key: await strayKey() });
    writePair(dir, "corrupt.example.test", { cert: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", key: exact.key });
    writePair(dir, "garbage.example.test", { cert: "hello\n", key: exact.key });
    writePair(dir, "badkey.example.test", { cert: (await makeLeaf(ca, ["badkey.example.test"])).cert, key: "not a key\n" });
    writeFileSync(join(dir, "nokey.example.test.cert.pem"), (await makeLeaf(ca, ["nokey.example.test"])).cert);
    writeFileSync(join(dir, "unreadable.example.test.cert.pem"), (await makeLeaf(ca, ["unreadable.example.test"])).cert);
    mkdirSync(join(dir, "unreadable.example.test.key.pem")); // a directory: reading it fails even as root
    writePair(dir, "self-signed", await makeLeaf(ca, ["not-localhost.test"])); // the fallback is not a domain certificate

    const scan = scanStore(dir);
    expect(scan.certificates.map((c) => [c.name, c.source, c.sans, c.notAfter.getTime() < Date.now()])).toEqual([
      ["*.example.test", "file", ["*.example.test"], false],
      ["crm.example.test", "file", ["crm.example.test"], false],
      ["old.example.test", "file", ["old.example.test"], true],
    ]);
    const refused = scan.refused.map((r) => [r.file.slice(dir.length + 1), r.error.replace(/ does not parse \(.*\)$/, " does not parse (…)")]);
    expect(refused).toEqual([
      ["badkey.example.test.key.pem", "the private key does not parse (…)"],
      ["corrupt.example.test.cert.pem", "the certificate does not parse (…)"],
      ["garbage.example.test.cert.pem", "the certificate file holds no PEM certificate"],
      ["mismatch.example.test.cert.pem", "the certificate's subjectAltName does not list 'mismatch.example.test' (it lists crm.example.test)"],
      ["nokey.example.test.key.pem", `the private key file is missing (expected beside ${dir}/nokey.example.test.cert.pem)`],
      ["nosan.example.test.cert.pem", "the certificate's subjectAltName does not list 'nosan.example.test' (it lists other.example.test)"],
      ["unreadable.example.test.key.pem", "cannot read the private key: EISDIR: illegal operation on a directory, read"],
    ]);
  });

  test("refuses a key that parses but belongs to another certificate", async () => {
    using project = tempProject();
    const dir = join(project.dir, "certs");
    const ca = await makeCa();
    writePair(dir, "crm.example.test", { cert: (await makeLeaf(ca, ["crm.example.test"])).cert, key: await strayKey() });
    const scan = scanStore(dir);
    expect([scan.certificates.length, scan.refused.map((r) => [r.file.endsWith("crm.example.test.key.pem"), r.error])]).toEqual([
      0,
      [[true, "the private key does not match the certificate"]],
    ]);
  });

  test("a certificate written by the ACME client counts as source acme, and a missing directory is an empty store", async () => {
    using project = tempProject();
    const dir = join(project.dir, "certs");
    const leaf = await makeLeaf(await makeCa(), ["shop.example.com"]);
    writePair(dir, "shop.example.com", { cert: `${ACME_MARKER} https://ca.test/dir on 2026-01-01T00:00:00Z\n${leaf.cert}`, key: leaf.key });
    expect([scanStore(dir).certificates.map((c) => [c.name, c.source]), scanStore(join(project.dir, "none"))]).toEqual([
      [["shop.example.com", "acme"]],
      { certificates: [], refused: [] },
    ]);
  });

  test("the index resolves exact names first, then the wildcard one label up, case-insensitively", async () => {
    using project = tempProject();
    const dir = join(project.dir, "certs");
    const ca = await makeCa();
    writePair(dir, "crm.example.test", await makeLeaf(ca, ["crm.example.test"]));
    writePair(dir, "_wildcard.example.test", await makeLeaf(ca, ["*.example.test"]));
    const index = new CertificateIndex(scanStore(dir).certificates);
    const hosts = ["crm.example.test", "CRM.Example.Test", "shop.example.test", "a.b.example.test", "example.test", "other.test"];
    expect(hosts.map((h) => index.resolve(h)?.name ?? null)).toEqual(["crm.example.test", "crm.example.test", "*.example.test", null, null, null]);
    expect([index.validFor("shop.example.test", 10 * 86_400_000), index.validFor("shop.example.test", 30 * 86_400_000)]).toEqual([true, false]);
  });

  test("SANs are read from the leaf of a full chain", async () => {
    const ca = await makeCa();
    const leaf = await makeLeaf(ca, ["a.example.test", "B.example.test", "127.0.0.1"]);
    const cert = new x509.X509Certificate(leaf.cert + ca.cert);
    expect(cert.subject).toBe("CN=a.example.test");
  });
});

describe("ACME domain list (SPEC §12.6)", () => {
  test("keeps publicly nameable hosts only, lower-cased without a trailing dot and de-duplicated", () => {
    const hosts = [
      "Shop.Example.com",
      "shop.example.com",
      "www.example.net.",
      "localhost",
      "app.localhost",
      "crm.example.test",
      "127.0.0.1",
      "::1",
      "intranet",
      "api.example.org",
    ];
    expect([acmeDomains(hosts), isPubliclyNameable("x.example.com")]).toEqual([["api.example.org", "shop.example.com", "www.example.net"], true]);
  });
});

describe("HTTP-01 answers (SPEC §5.2 step 2)", () => {
  test("a known token gets its key authorization, an unknown one 404, other paths nothing", async () => {
    const tokens = new ChallengeTokens();
    tokens.set("tok1", "tok1.thumb");
    const answers = await Promise.all(
      [
        ["http://h/.well-known/acme-challenge/tok1", "GET"],
        ["http://h/.well-known/acme-challenge/tok1?x=1", "GET"],
        ["http://h/.well-known/acme-challenge/nope", "GET"],
        ["http://h/.well-known/acme-challenge/tok1", "HEAD"],
      ].map(async ([url, method]) => {
        const r = tokens.answer(new Request(url!, { method }))!;
        return [r.status, r.headers.get("content-type"), await r.text()];
      }),
    );
    expect(answers).toEqual([
      [200, "text/plain", "tok1.thumb"],
      [200, "text/plain", "tok1.thumb"],
      [404, "text/plain", "Challenge not found"],
      [200, "text/plain", ""],
    ]);
    expect([tokens.answer(new Request("http://h/x/.well-known/acme-challenge/tok1")), tokens.answer(new Request("http://h/"))]).toEqual([null, null]);
  });
});
