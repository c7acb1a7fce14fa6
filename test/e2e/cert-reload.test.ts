import { describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { backend } from "../support/backend.ts";
import { makeCa, makeLeaf, strayKey } from "../support/certs.ts";
import { startTestProxy, tempProject, testToml } from "../support/project.ts";
import { spawnProxy } from "../support/spawn.ts";
import { presented, writePair } from "../support/tls.ts";
import { waitFor } from "../support/wait.ts";

const FALLBACK = "soli-proxy self-signed";

describe("certificate hot reload (SPEC §12.3)", () => {
  test("a pair dropped into cache_dir is served for new handshakes within 2 s", async () => {
    await using proxy = await startTestProxy("default -> http://127.0.0.1:9", { watch: true });
    const port = proxy.handle.https!.port;
    const before = await presented(port, "crm.example.test");
    writePair(join(proxy.project.dir, "certs"), "crm.example.test", await makeLeaf(await makeCa(), ["crm.example.test"]));
    const started = Date.now();
    await waitFor(async () => (await presented(port, "crm.example.test")).cn === "crm.example.test", "the new certificate", 2000, 50);
    expect([before.cn, Date.now() - started < 2000]).toEqual([FALLBACK, true]);
  });

  test("a response streaming on the old listener finishes after the swap while new handshakes get the new certificate", async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    using b = backend(
      () =>
        new Response(
          new ReadableStream({
            async start(controller) {
              controller.enqueue(new TextEncoder().encode("first,"));
              await released;
              controller.enqueue(new TextEncoder().encode("second"));
              controller.close();
            },
          }),
        ),
    );
    const ca = await makeCa();
    const dir = "certs";
    const v1 = await makeLeaf(ca, ["crm.example.test"]);
    await using proxy = await startTestProxy(`default -> ${b.url}`, {
      watch: true,
      files: { [`${dir}/crm.example.test.cert.pem`]: v1.cert, [`${dir}/crm.example.test.key.pem`]: v1.key },
    });
    const port = proxy.handle.https!.port;
    const oldSerial = (await presented(port, "crm.example.test")).serial;

    const res = await fetch(`${proxy.httpsUrl}/stream`, { tls: { rejectUnauthorized: false } } as RequestInit);
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);

    writePair(join(proxy.project.dir, dir), "crm.example.test", await makeLeaf(ca, ["crm.example.test"]));
    const newSerial = await waitFor(
      async () => {
        const now = (await presented(port, "crm.example.test")).serial;
        return now !== oldSerial ? now : null;
      },
      "the replaced certificate",
      2000,
      50,
    );

    release();
    let rest = "";
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      rest += new TextDecoder().decode(chunk.value);
    }
    const curl = Bun.spawn(
      ["curl", "-sk", "--resolve", `crm.example.test:${port}:127.0.0.1`, `https://crm.example.test:${port}/after`, "-o", "/dev/null", "-w", "%{http_code}"],
      { stdout: "pipe" },
    );
    const after = await new Response(curl.stdout).text();
    expect([res.status, first + rest, newSerial !== oldSerial, after]).toEqual([200, "first,second", true, "200"]);
  });

  test("a broken replacement is refused and the previous certificate stays; removing the pair returns the name to the fallback", async () => {
    const ca = await makeCa();
    const v1 = await makeLeaf(ca, ["crm.example.test"]);
    await using proxy = await startTestProxy("default -> http://127.0.0.1:9", {
      files: { "certs/crm.example.test.cert.pem": v1.cert, "certs/crm.example.test.key.pem": v1.key },
    });
    const port = proxy.handle.https!.port;
    const dir = join(proxy.project.dir, "certs");
    const serial = (await presented(port, "crm.example.test")).serial;

    writeFileSync(join(dir, "crm.example.test.key.pem"), await strayKey());
    const broken = await proxy.handle.reloadCertificates();
    const afterBroken = await presented(port, "crm.example.test");

    rmSync(join(dir, "crm.example.test.cert.pem"));
    rmSync(join(dir, "crm.example.test.key.pem"));
    const removed = await proxy.handle.reloadCertificates();
    const afterRemoval = await presented(port, "crm.example.test");

    expect([broken.count, broken.refused.map((r) => [r.name, r.error]), afterBroken.serial === serial, removed, afterRemoval.cn]).toEqual([
      1,
      [["crm.example.test", "the private key does not match the certificate"]],
      true,
      { count: 0, refused: [] },
      FALLBACK,
    ]);
    const kept = proxy.logs().find((l) => l.level === "error" && String(l.msg).includes("still serving the previous certificate for crm.example.test"));
    expect(kept?.file).toBe(join(dir, "crm.example.test.key.pem"));
  });

  test("a rescan that finds the same files keeps the listener; a changed set replaces it", async () => {
    await using proxy = await startTestProxy("default -> http://127.0.0.1:9");
    const swaps = () => proxy.logs().filter((l) => String(l.msg).startsWith("certificates reloaded")).length;
    const unchanged = await proxy.handle.reloadCertificates();
    const afterNoop = swaps();
    writePair(join(proxy.project.dir, "certs"), "crm.example.test", await makeLeaf(await makeCa(), ["crm.example.test"]));
    const changed = await proxy.handle.reloadCertificates();
    expect([unchanged, afterNoop, changed, swaps()]).toEqual([{ count: 0, refused: [] }, 0, { count: 1, refused: [] }, 1]);
  });

  test("SIGUSR1 rescans cache_dir when watching is off", async () => {
    using project = tempProject({ "proxy.conf": "default -> http://127.0.0.1:9\n", "config.toml": testToml() });
    await using proxy = await spawnProxy(project.conf, { args: ["--watch", "false"] });
    writePair(join(project.dir, "certs"), "_wildcard.example.test", await makeLeaf(await makeCa(), ["*.example.test"]));
    const before = await presented(proxy.https, "shop.example.test");
    proxy.proc.kill("SIGUSR1");
    await waitFor(async () => (await presented(proxy.https, "shop.example.test")).cn === "*.example.test", "the wildcard after SIGUSR1", 3000, 50);
    expect(before.cn).toBe(FALLBACK);
  });
});

describe("dev certificates (SPEC §12.4)", () => {
  test("the fallback covers the app aliases it is given and is regenerated only when that set changes", async () => {
    await using proxy = await startTestProxy("default -> http://127.0.0.1:9", { dev: true });
    const port = proxy.handle.https!.port;
    const initial = await presented(port);
    await proxy.handle.setDevAliases(["shop.example.test", "CRM.example.test"]);
    const withAliases = await presented(port);
    await proxy.handle.setDevAliases(["crm.example.test", "shop.example.test"]);
    const same = await presented(port);
    await proxy.handle.setDevAliases(["shop.example.test"]);
    const fewer = await presented(port);
    expect([initial.sans, withAliases.sans, same.serial === withAliases.serial, fewer.sans, proxy.handle.certificates()[0]!.sans]).toEqual([
      "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1",
      "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:crm.example.test, DNS:shop.example.test",
      true,
      "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:shop.example.test",
      ["localhost", "127.0.0.1", "::1", "shop.example.test"],
    ]);
  });
});
