import { describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { backend } from "../support/backend.ts";
import { curlTrusting, freePort, startPebble } from "../support/pebble.ts";
import { startTestProxy, tempProject } from "../support/project.ts";
import { spawnProxy } from "../support/spawn.ts";
import { presented } from "../support/tls.ts";
import { waitFor } from "../support/wait.ts";

function toml(httpPort: number, directory: string): string {
  return [
    "[server]",
    `bind = "127.0.0.1:${httpPort}"`,
    "https_port = 0",
    "worker_threads = 1",
    "shutdown_grace_period = 1",
    "[admin]",
    "enabled = false",
    "[tls]",
    'mode = "letsencrypt"',
    "[letsencrypt]",
    'email = "ops@example.com"',
    // no terms_agreed: choosing letsencrypt agrees to the terms, as in the original (SPEC §4)
    `directory_url = "${directory}"`,
    "",
  ].join("\n");
}

describe("Let's Encrypt via ACME against a real Pebble (SPEC §12.6)", () => {
  test("Pebble validates HTTP-01 against the proxy and the issued certificate is written to certs/ and served for its SNI", async () => {
    using site = backend(() => new Response("hello from shop"));
    using project = tempProject();
    const httpPort = await freePort();
    await using pebble = await startPebble(project.dir, httpPort);
    project.write("proxy.conf", `shop.example.com -> ${site.url}\nlocal.test -> ${site.url}\n`);
    project.write("config.toml", toml(httpPort, pebble.directory));
    project.write("certs/account_credentials.json", "{ not json"); // an unreadable account is replaced
    await using proxy = await spawnProxy(project.conf, { env: { NODE_EXTRA_CA_CERTS: pebble.apiCaFile } });

    await waitFor(() => proxy.output().includes("certificate for shop.example.com issued"), "the issued certificate", 20_000, 100).catch((err) => {
      throw new Error(`${(err as Error).message}\nproxy:\n${proxy.output()}\npebble:\n${pebble.output()}`);
    });
    const certs = join(project.dir, "certs");
    const certFile = readFileSync(join(certs, "shop.example.com.cert.pem"), "utf8");
    const modes = ["shop.example.com.key.pem", "account_credentials.json"].map((f) => (statSync(join(certs, f)).mode & 0o777).toString(8));
    const account = JSON.parse(readFileSync(join(certs, "account_credentials.json"), "utf8")) as Record<string, unknown>;

    project.write("pebble-root.pem", await pebble.rootPem());
    const { body, err, code } = await curlTrusting(join(project.dir, "pebble-root.pem"), "shop.example.com", proxy.https);

    expect([
      certFile.startsWith("Issued to soli-proxy by ACME"),
      (certFile.match(/BEGIN CERTIFICATE/g) ?? []).length >= 2, // full chain: leaf and intermediate
      modes,
      [account.directory_url, account.contact, typeof account.private_key_pem],
      // Pebble really fetched the token from the proxy's plain listener
      pebble.output().includes(`http://shop.example.com:${httpPort}/.well-known/acme-challenge/`),
      proxy.output().includes("local.test"), // *.test names are never ordered
      proxy.output().includes("account_credentials.json is not a usable ACME account"),
      // the terms agreed to are named at account creation
      // (Pebble's terms are a data: URL)
      proxy.output().includes("creating an ACME account; this agrees to the CA's terms of service at data:text/plain,"),
      [code, body, err],
    ]).toEqual([true, true, ["600", "600"], [pebble.directory, ["mailto:ops@example.com"], "string"], true, false, true, true, [0, "hello from shop", ""]]);
  }, 30_000);

  test("a challenge the CA cannot validate is logged with the domain and the CA's reason, and the fallback keeps serving", async () => {
    using project = tempProject();
    const httpPort = await freePort();
    await using pebble = await startPebble(project.dir, await freePort()); // validates against a port nobody listens on
    project.write("proxy.conf", "shop.example.com -> http://127.0.0.1:9\n");
    project.write("config.toml", toml(httpPort, pebble.directory));
    await using proxy = await spawnProxy(project.conf, { env: { NODE_EXTRA_CA_CERTS: pebble.apiCaFile } });
    const line = await waitFor(
      () =>
        proxy
          .output()
          .split("\n")
          .find((l) => l.includes("not issued")),
      "the failure log line",
      20_000,
      100,
    );
    const entry = JSON.parse(line) as { level: string; domain: string; msg: string };
    const served = await presented(proxy.https, "shop.example.com");
    expect([
      entry.level,
      entry.domain,
      entry.msg.startsWith("certificate for shop.example.com not issued: "),
      /connection refused/i.test(entry.msg),
      served.cn,
    ]).toEqual(["error", "shop.example.com", true, true, "soli-proxy self-signed"]);
  }, 30_000);
});

const letsencryptToml = (directory: string) =>
  `[tls]\nmode = "letsencrypt"\n[letsencrypt]\nemail = "ops@example.com"\nterms_agreed = true\ndirectory_url = "${directory}"\n`;

/** A stand-in ACME server that answers the directory and nonces, and refuses accounts with an RFC 7807 problem. */
function refusingCa(): { url: string; hits: string[]; stop(): void } & Disposable {
  const hits: string[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req): Response {
      const path = new URL(req.url).pathname;
      hits.push(`${req.method} ${path}`);
      const base = `http://127.0.0.1:${new URL(req.url).port}`;
      if (path === "/dir") return Response.json({ newNonce: `${base}/nonce`, newAccount: `${base}/account`, newOrder: `${base}/order` });
      if (path === "/nonce") return new Response(null, { status: 200, headers: { "replay-nonce": "bm9uY2U", "cache-control": "no-store" } });
      const problem = { type: "urn:ietf:params:acme:error:unauthorized", detail: "new accounts are disabled on this CA", status: 403 };
      return new Response(JSON.stringify(problem), { status: 403, headers: { "content-type": "application/problem+json", "replay-nonce": "bm9uY2U" } });
    },
  });
  const stop = () => server.stop(true);
  return { url: `http://127.0.0.1:${server.port}/dir`, hits, stop, [Symbol.dispose]: stop };
}

describe("ACME failures are logged with the domain and serving goes on (SPEC §12.6)", () => {
  test("a domain rule added by a config reload is ordered at once", async () => {
    await using proxy = await startTestProxy("default -> http://127.0.0.1:9", { toml: letsencryptToml(`http://127.0.0.1:${await freePort()}/dir`) });
    proxy.project.write("proxy.conf", "default -> http://127.0.0.1:9\nnew.example.com -> http://127.0.0.1:9\n");
    const reloaded = await proxy.handle.reload();
    await waitFor(() => proxy.logs().some((l) => l.domain === "new.example.com"), "the new domain's attempt", 10_000, 20);
    expect(reloaded).toEqual({ ok: true, version: 2 });
  });

  test("app domains given to the running proxy are ordered too, except names no public CA issues", async () => {
    await using proxy = await startTestProxy("default -> http://127.0.0.1:9", { toml: letsencryptToml(`http://127.0.0.1:${await freePort()}/dir`) });
    proxy.handle.setAppDomains(["shop.example.org", "shop.example.test", "localhost"]);
    await waitFor(() => proxy.logs().some((l) => l.domain === "shop.example.org"), "the app domain's attempt", 10_000, 20);
    expect([
      ...new Set(
        proxy
          .logs()
          .filter((l) => l.domain)
          .map((l) => l.domain),
      ),
    ]).toEqual(["shop.example.org"]);
  });

  test.each([
    [
      "a CA that is down",
      async () => ({ url: `http://127.0.0.1:${await freePort()}/dir`, stop() {} }),
      /^certificate for shop\.example\.com not issued: ACME directory http:\/\/127\.0\.0\.1:\d+\/dir unreachable: .+; next attempt in 60 min$/,
    ],
    [
      "a CA answering 500",
      async () => {
        const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("maintenance", { status: 500 }) });
        return { url: `http://127.0.0.1:${s.port}/dir`, stop: () => s.stop(true) };
      },
      /^certificate for shop\.example\.com not issued: ACME directory http:\/\/127\.0\.0\.1:\d+\/dir answered 500: maintenance; next attempt in 60 min$/,
    ],
    [
      "a CA refusing the account",
      async () => refusingCa(),
      /^certificate for shop\.example\.com not issued: new accounts are disabled on this CA; next attempt in 60 min$/,
    ],
  ] as const)("%s", async (_name, makeCa, expected) => {
    const ca = await makeCa();
    try {
      await using proxy = await startTestProxy("shop.example.com -> http://127.0.0.1:9", { toml: letsencryptToml(ca.url) });
      const line = await waitFor(() => proxy.logs().find((l) => l.level === "error" && l.domain === "shop.example.com"), "the failure log line", 10_000, 20);
      const served = await presented(proxy.handle.https!.port, "shop.example.com");
      expect([String(line.msg), served.cn]).toEqual([expect.stringMatching(expected) as unknown as string, "soli-proxy self-signed"]);
    } finally {
      ca.stop();
    }
  });
});
