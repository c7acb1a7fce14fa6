/**
 * The docs/tls-mkcert.md workflow with the real mkcert (Debian package), each run with its own
 * CAROOT so the machine's trust stores are never touched (no `mkcert -install`).
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { backend } from "../support/backend.ts";
import { startTestProxy } from "../support/project.ts";
import { presented } from "../support/tls.ts";
import { waitFor } from "../support/wait.ts";

async function run(cmd: string[], env: Record<string, string>, cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn(cmd, { cwd, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

/** `mkcert "*.example.test"` with CA root `caroot`, moved into `certs` with the store's names. */
async function mkcertWildcard(caroot: string, work: string, certs: string): Promise<void> {
  mkdirSync(work, { recursive: true });
  const made = await run(["mkcert", "*.example.test"], { CAROOT: caroot }, work);
  if (made.code !== 0) throw new Error(`mkcert failed: ${made.stderr}`);
  renameSync(join(work, "_wildcard.example.test-key.pem"), join(certs, "_wildcard.example.test.key.pem"));
  renameSync(join(work, "_wildcard.example.test.pem"), join(certs, "_wildcard.example.test.cert.pem"));
}

function curlWithCa(caroot: string, port: number) {
  return run(
    ["curl", "-sS", "--cacert", join(caroot, "rootCA.pem"), "--resolve", `crm.example.test:${port}:127.0.0.1`, `https://crm.example.test:${port}/hello`],
    {},
    "/",
  );
}

describe("mkcert workflow (SPEC §12.5, docs/tls-mkcert.md)", () => {
  test("a wildcard made by mkcert is served for crm.example.test and verifies against mkcert's CA; after a CA change it fails until re-issued", async () => {
    using b = backend(() => new Response("hello from crm"));
    await using proxy = await startTestProxy(`default -> ${b.url}`, { watch: true });
    const port = proxy.handle.https!.port;
    const dir = proxy.project.dir;
    const certs = join(dir, "certs");

    await mkcertWildcard(join(dir, "caroot-1"), join(dir, "work-1"), certs);
    await waitFor(async () => (await presented(port, "crm.example.test")).cn === "", "the mkcert certificate (no CN)", 2000, 50);
    const trusted = await curlWithCa(join(dir, "caroot-1"), port);

    // A re-created CA: same issuer name, new key. The old certificate no longer verifies against it.
    await mkcertWildcard(join(dir, "caroot-2"), join(dir, "work-2"), join(dir, "work-2"));
    const rotated = await curlWithCa(join(dir, "caroot-2"), port);
    const sameIssuerName = (
      await run(["sh", "-c", `openssl x509 -noout -subject -in caroot-1/rootCA.pem; openssl x509 -noout -subject -in caroot-2/rootCA.pem`], {}, dir)
    ).stdout.split("\n");

    // Recovery: re-issue with the current CA and drop it in.
    const before = (await presented(port, "crm.example.test")).serial;
    await mkcertWildcard(join(dir, "caroot-2"), join(dir, "work-3"), certs);
    await waitFor(async () => (await presented(port, "crm.example.test")).serial !== before, "the re-issued certificate", 2000, 50);
    const recovered = await curlWithCa(join(dir, "caroot-2"), port);

    expect([
      [trusted.code, trusted.stdout],
      sameIssuerName[0] === sameIssuerName[1],
      [rotated.code, rotated.stderr.split("\n")[0]],
      [recovered.code, recovered.stdout],
    ]).toEqual([[0, "hello from crm"], true, [60, "curl: (60) SSL certificate problem: unable to get local issuer certificate"], [0, "hello from crm"]]);
  }, 20_000); // mkcert makes two RSA CAs and three certificates
});
