/**
 * Security review items with tests (issue 11, item 6). Covered elsewhere: the control socket's
 * 0600 mode in its 0700 run/ (control-socket.test.ts), a refused non-loopback admin bind without
 * credentials (admin-api.test.ts). App names, paths, docker options and app privileges belong to
 * the managed-apps tests.
 */
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { networkInterfaces } from "node:os";
import { SignJWT } from "jose";
import { adminToml, api, API_KEY, startAdminProxy } from "../support/admin.ts";
import { backend } from "../support/backend.ts";
import { startTestProxy } from "../support/project.ts";

/** A non-loopback IPv4 address of this machine: connecting to it makes this process a remote peer. */
const externalIp = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === "IPv4" && !a.internal)?.address;

const status = async (url: string, headers: Record<string, string> = {}) => (await fetch(url, { headers })).status;

describe("admin API off loopback", () => {
  test.skipIf(!externalIp)(
    "a non-loopback peer needs credentials, also after a reload removed the last one; the proxy listener serves no admin API",
    async () => {
      using b = backend(() => new Response("backend"));
      const toml = adminToml().replaceAll('bind = "127.0.0.1:0"', 'bind = "0.0.0.0:0"');
      await using proxy = await startAdminProxy(`/only -> ${b.url}\n`, { toml });
      const remote = `http://${externalIp}:${proxy.handle.admin!.port}/api/v1/status`;
      const local = `http://127.0.0.1:${proxy.handle.admin!.port}/api/v1/status`;
      const withKey = await status(remote, { "x-api-key": API_KEY });
      const withoutKey = await status(remote);
      const wrongKey = await status(remote, { "x-api-key": "guess" });
      // The key is removed; admin.bind is restart-only, so the listener stays on 0.0.0.0 but open.
      proxy.project.write("config.toml", toml.replace(`api_key = "${API_KEY}"`, ""));
      const reloaded = await proxy.handle.reload();
      const openRemote = await status(remote);
      const openLocal = await status(local);
      // The proxy listeners route /api/v1/* like any path (here: no rule, 421); metrics only for loopback peers.
      const proxyRemote = `http://${externalIp}:${proxy.handle.http.port}`;
      expect([
        withKey,
        withoutKey,
        wrongKey,
        reloaded.ok,
        openRemote,
        openLocal,
        await status(`${proxyRemote}/api/v1/status`),
        await status(`${proxyRemote}/metrics`),
      ]).toEqual([200, 401, 401, true, 401, 200, 421, 403]);
    },
  );
});

describe("secrets never in logs or admin answers", () => {
  test("credentials sent by clients and configured secrets appear in no log line and no admin answer", async () => {
    const secrets = {
      bobPassword: "bob-password-7f3a",
      carolPassword: "carol-password-91c2",
      plainKey: "plain-api-key-secret-55d1",
      deployKey: "deploy-key-secret-0b9e",
      jwtSecret: "jwt-hmac-secret-0123456789abcdef-a8",
      adminKey: "admin-api-key-c4f0",
      adminPassword: "admin-clear-password-2d7e",
      cookie: "session-cookie-secret-e61b",
      proxyAuth: "proxy-authorization-secret-3a90",
      brokenKey: "not-hex-broken-key-secret-77aa",
    };
    const bobHash = await Bun.password.hash(secrets.bobPassword, { algorithm: "bcrypt", cost: 4 });
    const carolHash = await Bun.password.hash(secrets.carolPassword, { algorithm: "bcrypt", cost: 4 });
    const deploySha = createHash("sha256").update(secrets.deployKey).digest("hex");
    const token = await new SignJWT({ sub: "jane" })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode(secrets.jwtSecret));
    const hidden = [...Object.values(secrets), bobHash, bobHash.slice(0, -1), carolHash, deploySha, token, token.split(".")[2]!];

    using b = backend(() => new Response("ok"));
    const dead = Bun.serve({ port: 0, fetch: () => new Response() });
    const deadPort = dead.port;
    dead.stop(true);
    const conf = [
      `/basic/* -> ${b.url} @auth:bob:${bobHash}`,
      `/key/* -> ${b.url}`,
      "/key/* {\n    auth: api_key\n}",
      `/jwt/* -> ${b.url}`,
      "/jwt/* {\n    auth: jwt\n}",
      `/users/* -> ${b.url}`,
      "/users/* {\n    auth: basic\n}",
      `/dead/* -> http://127.0.0.1:${deadPort}`,
      `default -> ${b.url}`,
    ].join("\n");
    const extra = [
      "[logging]\nlog_endpoints = true",
      `[auth.users]\ncarol = "${carolHash}"`,
      `[auth.api_keys]\nci = "${secrets.plainKey}"\ndeploy = "sha256:${deploySha}"`,
      `[auth.jwt]\nsecret = "${secrets.jwtSecret}"`,
    ].join("\n\n");
    const toml = adminToml(`api_key = "${secrets.adminKey}"`, extra);
    await using proxy = await startAdminProxy(conf + "\n", { toml, env: { ADMIN_USER: "root", ADMIN_PASSWORD: secrets.adminPassword } });

    const basic = (user: string, password: string) => `Basic ${btoa(`${user}:${password}`)}`;
    const traffic: [string, Record<string, string>, number][] = [
      ["/basic/x", { authorization: basic("bob", secrets.bobPassword) }, 200],
      ["/basic/x", { authorization: basic("bob", `${secrets.bobPassword}-wrong`) }, 401],
      ["/users/x", { authorization: basic("carol", secrets.carolPassword) }, 200],
      ["/key/x", { "x-api-key": secrets.plainKey }, 200],
      ["/key/x", { "x-api-key": secrets.deployKey }, 200],
      ["/key/x", { "x-api-key": `${secrets.plainKey}-wrong` }, 401],
      ["/jwt/x", { authorization: `Bearer ${token}` }, 200],
      ["/jwt/x", { authorization: `Bearer ${token}x` }, 401],
      ["/dead/x", { cookie: `sid=${secrets.cookie}`, authorization: basic("bob", secrets.bobPassword) }, 502],
      [`/plain?token=${secrets.cookie}`, { cookie: `sid=${secrets.cookie}`, "proxy-authorization": secrets.proxyAuth }, 200],
    ];
    const statuses = [];
    for (const [path, headers] of traffic) statuses.push(await status(proxy.url + path, headers));

    // Admin answers, with both credentials, and failures.
    const key = { "x-api-key": secrets.adminKey };
    const answers: unknown[] = [];
    for (const path of ["status", "config", "routes", "routes/0", "routes/4", "circuit-breaker", "metrics"])
      answers.push((await api(proxy.adminUrl, "GET", path, undefined, key)).body);
    answers.push((await api(proxy.adminUrl, "GET", "config", undefined, { authorization: basic("root", secrets.adminPassword) })).body);
    answers.push((await api(proxy.adminUrl, "GET", "config", undefined, { authorization: basic("root", `${secrets.adminPassword}-wrong`) })).body);

    // A reload that applies, then one rejected for errors next to the secrets in both files.
    answers.push((await api(proxy.adminUrl, "POST", "reload", undefined, key)).body);
    proxy.project.write("proxy.conf", conf.replace(`@auth:bob:${bobHash}`, `@auth:bob:${bobHash.slice(0, -1)}!`) + "\n/broken -> ftp://x\n");
    proxy.project.write("config.toml", toml.replace(`deploy = "sha256:${deploySha}"`, `deploy = "sha256:${secrets.brokenKey}"`));
    const rejected = await api(proxy.adminUrl, "POST", "reload", undefined, key);
    answers.push(rejected.body, (await api(proxy.adminUrl, "GET", "status", undefined, key)).body);
    // A TOML syntax error on the secret's own line (an unterminated string).
    proxy.project.write("config.toml", toml.replace(`secret = "${secrets.jwtSecret}"`, `secret = "${secrets.jwtSecret}`));
    const unparsable = await api(proxy.adminUrl, "POST", "reload", undefined, key);
    answers.push(unparsable.body, (await api(proxy.adminUrl, "GET", "status", undefined, key)).body);

    const logText = proxy
      .logs()
      .map((l) => JSON.stringify(l))
      .join("\n");
    const answerText = JSON.stringify(answers);
    const leaks = hidden.filter((s) => logText.includes(s) || answerText.includes(s));
    const endpointLines = proxy.logs().filter((l) => l.msg === "endpoint request").length;
    expect([statuses, rejected.status, unparsable.status, leaks, endpointLines >= traffic.length]).toEqual([traffic.map((t) => t[2]), 422, 422, [], true]);
  });
});

describe("TLS on the HTTPS listener", () => {
  /** Runs openssl s_client against the listener; returns the negotiated protocol and cipher, or "refused". */
  async function handshake(port: number, args: string[]): Promise<string> {
    // @SECLEVEL=0 lets the client offer old protocols and ciphers, so a refusal is the server's.
    const proc = Bun.spawn(["openssl", "s_client", "-connect", `127.0.0.1:${port}`, "-servername", "localhost", ...args], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const out = await new Response(proc.stdout).text();
    await proc.exited;
    const m = /New, (TLSv[\d.]+), Cipher is (\S+)/.exec(out);
    return m ? `${m[1]} ${m[2]}` : "refused";
  }

  test("TLS 1.0 and 1.1 are refused, TLS 1.2 offers only ECDHE with AEAD ciphers, TLS 1.3 works", async () => {
    await using proxy = await startTestProxy("default -> http://127.0.0.1:9");
    const port = proxy.handle.https!.port;
    const weak = "ALL:@SECLEVEL=0";
    const results = {
      "TLS 1.0": await handshake(port, ["-tls1", "-cipher", weak]),
      "TLS 1.1": await handshake(port, ["-tls1_1", "-cipher", weak]),
      "TLS 1.2 default": await handshake(port, ["-tls1_2"]),
      "TLS 1.2 CBC SHA-1": await handshake(port, ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:@SECLEVEL=0"]),
      "TLS 1.2 CBC SHA-256": await handshake(port, ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:@SECLEVEL=0"]),
      "TLS 1.2 no forward secrecy": await handshake(port, ["-tls1_2", "-cipher", "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA:@SECLEVEL=0"]),
      "TLS 1.2 anonymous or null": await handshake(port, ["-tls1_2", "-cipher", "aNULL:eNULL:@SECLEVEL=0"]),
      "TLS 1.2 ChaCha20": await handshake(port, ["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"]),
      "TLS 1.3": await handshake(port, ["-tls1_3"]),
    };
    expect(results).toEqual({
      "TLS 1.0": "refused",
      "TLS 1.1": "refused",
      "TLS 1.2 default": "TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384",
      "TLS 1.2 CBC SHA-1": "refused",
      "TLS 1.2 CBC SHA-256": "refused",
      "TLS 1.2 no forward secrecy": "refused",
      "TLS 1.2 anonymous or null": "refused",
      "TLS 1.2 ChaCha20": "TLSv1.2 ECDHE-ECDSA-CHACHA20-POLY1305",
      "TLS 1.3": "TLSv1.3 TLS_AES_256_GCM_SHA384",
    });
  });
});
