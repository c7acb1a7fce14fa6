import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { makeCa, makeLeaf, strayKey } from "../support/certs.ts";
import { startTestProxy, tempProject, testToml } from "../support/project.ts";
import { runCli } from "../support/spawn.ts";
import { presented } from "../support/tls.ts";

const pem = (pair: { cert: string; key: string }, base: string) => ({ [`certs/${base}.cert.pem`]: pair.cert, [`certs/${base}.key.pem`]: pair.key });

describe("SNI resolution (SPEC §12.2)", () => {
  test("serves the exact name, then the wildcard one label up, then the fallback, comparing names case-insensitively", async () => {
    const ca = await makeCa();
    const files = {
      ...pem(await makeLeaf(ca, ["crm.example.test"]), "crm.example.test"),
      ...pem(await makeLeaf(ca, ["*.example.test"]), "_wildcard.example.test"),
    };
    await using proxy = await startTestProxy("default -> http://127.0.0.1:9", { files });
    const port = proxy.handle.https!.port;
    const names = ["crm.example.test", "CRM.Example.TEST", "shop.example.test", "a.b.example.test", "example.test", "other.test", undefined];
    const cns = await Promise.all(names.map(async (n) => (await presented(port, n)).cn));
    expect(cns).toEqual([
      "crm.example.test",
      "crm.example.test",
      "*.example.test",
      "soli-proxy self-signed",
      "soli-proxy self-signed",
      "soli-proxy self-signed",
      "soli-proxy self-signed",
    ]);
  });

  test("bad pairs are refused with an error naming the file, an expired one is served with a warning, and the fallback keeps serving", async () => {
    const ca = await makeCa();
    const good = await makeLeaf(ca, ["crm.example.test"]);
    const files = {
      ...pem(good, "crm.example.test"),
      ...pem(await makeLeaf(ca, ["old.example.test"], { expired: true }), "old.example.test"),
      ...pem({ cert: (await makeLeaf(ca, ["mismatch.example.test"])).cert, key: await strayKey() }, "mismatch.example.test"),
      ...pem({ cert: "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n", key: good.key }, "corrupt.example.test"),
      ...pem(good, "nosan.example.test"),
    };
    await using proxy = await startTestProxy("default -> http://127.0.0.1:9", { files });
    const port = proxy.handle.https!.port;
    const cns = await Promise.all(
      ["crm.example.test", "old.example.test", "mismatch.example.test", "corrupt.example.test", "nosan.example.test"].map(
        async (n) => (await presented(port, n)).cn,
      ),
    );
    expect(cns).toEqual(["crm.example.test", "old.example.test", "soli-proxy self-signed", "soli-proxy self-signed", "soli-proxy self-signed"]);

    const dir = join(proxy.project.dir, "certs");
    const lines = proxy
      .logs()
      .filter((l) => l.level === "error" || l.level === "warn")
      .map((l) => [l.level, l.file, String(l.msg).replace(/\(.*\)/, "(…)")]);
    expect(lines).toEqual([
      ["error", `${dir}/corrupt.example.test.cert.pem`, `certificate ${dir}/corrupt.example.test.cert.pem refused: the certificate does not parse (…)`],
      [
        "error",
        `${dir}/mismatch.example.test.key.pem`,
        `certificate ${dir}/mismatch.example.test.key.pem refused: the private key does not match the certificate`,
      ],
      [
        "error",
        `${dir}/nosan.example.test.cert.pem`,
        `certificate ${dir}/nosan.example.test.cert.pem refused: the certificate's subjectAltName does not list 'nosan.example.test' (…)`,
      ],
      [
        "warn",
        `${dir}/old.example.test.cert.pem`,
        expect.stringMatching(/^certificate .*old\.example\.test\.cert\.pem expired on \d{4}-\d\d-\d\dT[\d:]+Z; serving it anyway$/) as unknown as string,
      ],
    ]);
  });

  test("the inventory lists the fallback and every certificate in service with source, expiry and SANs", async () => {
    const ca = await makeCa();
    await using proxy = await startTestProxy("default -> http://127.0.0.1:9", { files: pem(await makeLeaf(ca, ["*.example.test"]), "_wildcard.example.test") });
    const dir = join(proxy.project.dir, "certs");
    const rows = proxy.handle.certificates().map((r) => ({ ...r, not_after: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(r.not_after) }));
    expect(rows).toEqual([
      { name: "self-signed", file: `${dir}/self-signed.cert.pem`, source: "self-signed", not_after: true, sans: ["localhost", "127.0.0.1", "::1"] },
      { name: "*.example.test", file: `${dir}/_wildcard.example.test.cert.pem`, source: "file", not_after: true, sans: ["*.example.test"] },
    ]);
  });

  test("challenge paths are answered before force_https: an unknown token is 404 Challenge not found, not a redirect", async () => {
    await using proxy = await startTestProxy("site.test -> http://127.0.0.1:9", { toml: "[tls]\nforce_https = true\n" });
    const challenge = await fetch(`${proxy.url}/.well-known/acme-challenge/unknown-token`, { headers: { host: "site.test" }, redirect: "manual" });
    const other = await fetch(`${proxy.url}/page`, { headers: { host: "site.test" }, redirect: "manual" });
    expect([challenge.status, await challenge.text(), other.status]).toEqual([404, "Challenge not found", 308]);
  });
});

describe("check counts and validates certificates (SPEC §16.2)", () => {
  test("counts the good pairs in its summary line", async () => {
    const ca = await makeCa();
    using project = tempProject({
      "proxy.conf": "default -> http://127.0.0.1:9\n",
      "config.toml": testToml(),
      ...pem(await makeLeaf(ca, ["crm.example.test"]), "crm.example.test"),
      ...pem(await makeLeaf(ca, ["*.example.test"]), "_wildcard.example.test"),
    });
    const r = await runCli(["check", "-c", project.conf, "--sites-dir", join(project.dir, "sites")]);
    expect([r.code, r.stdout.trim()]).toEqual([0, "ok: 1 rule, 0 apps, 2 certificates"]);
  });

  test("a bad pair is an error naming the file, an expired certificate a warning", async () => {
    const ca = await makeCa();
    using project = tempProject({
      "proxy.conf": "default -> http://127.0.0.1:9\n",
      "config.toml": testToml(),
      ...pem({ cert: (await makeLeaf(ca, ["crm.example.test"])).cert, key: await strayKey() }, "crm.example.test"),
      ...pem(await makeLeaf(ca, ["old.example.test"], { expired: true }), "old.example.test"),
    });
    const r = await runCli(["check", "-c", project.conf, "--sites-dir", join(project.dir, "sites")]);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => l.replace(project.dir, "<dir>").replace(/on \S+$/, "on <date>"));
    expect([r.code, lines]).toEqual([
      1,
      [
        "<dir>/certs/crm.example.test.key.pem: error: certificate for 'crm.example.test' refused: the private key does not match the certificate",
        "<dir>/certs/old.example.test.cert.pem: warning: certificate for 'old.example.test' expired on <date>",
        "1 error, 1 warning",
      ],
    ]);
  });
});
