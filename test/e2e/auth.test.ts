import { describe, expect, test } from "bun:test";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { backend } from "../support/backend.ts";
import { startTestProxy } from "../support/project.ts";

const HASH = await Bun.password.hash("s3cret", { algorithm: "bcrypt", cost: 4 });
const KEY_DIGEST = `sha256:${new Bun.CryptoHasher("sha256").update("mykey").digest("hex")}`;
const basic = (user: string, password: string) => `Basic ${btoa(`${user}:${password}`)}`;

/** Status, challenge and the headers the backend saw (null when the request never reached it). */
async function call(url: string, headers: Record<string, string>, seen: { headers: Record<string, string> }[]) {
  const before = seen.length;
  const res = await fetch(url, { headers });
  const body = await res.text();
  return {
    status: res.status,
    challenge: res.headers.get("www-authenticate"),
    body: res.status === 401 ? body : undefined,
    upstream: seen.length > before ? seen.at(-1)!.headers : null,
  };
}

describe("authentication at the proxy (SPEC §7)", () => {
  test("Basic: 401 with the realm, then the user reaches the backend as X-Auth-Subject", async () => {
    using b = backend();
    const conf = `/auth/* -> ${b.url} @auth:admin:${HASH}\n/auth/* {\n    auth: basic\n    realm: "Restricted area"\n}\ndefault -> ${b.url}\n`;
    await using proxy = await startTestProxy(conf);
    const denied = await call(`${proxy.url}/auth/x`, { authorization: basic("admin", "nope") }, b.seen);
    const missing = await call(`${proxy.url}/auth/x`, {}, b.seen);
    const ok = await call(`${proxy.url}/auth/x`, { authorization: basic("admin", "s3cret"), "x-auth-subject": "forged" }, b.seen);
    const cached = await call(`${proxy.url}/auth/y`, { authorization: basic("admin", "s3cret") }, b.seen);
    const open = await call(`${proxy.url}/public`, { "x-auth-subject": "forged" }, b.seen);
    expect([denied, missing].map(({ upstream, ...r }) => ({ ...r, reached: upstream !== null }))).toEqual([
      { status: 401, challenge: 'Basic realm="Restricted area"', body: "Authentication required", reached: false },
      { status: 401, challenge: 'Basic realm="Restricted area"', body: "Authentication required", reached: false },
    ]);
    expect([ok.status, ok.upstream?.["x-auth-subject"], ok.upstream?.authorization, cached.status, cached.upstream?.["x-auth-subject"]]).toEqual([
      200,
      "admin",
      basic("admin", "s3cret"),
      200,
      "admin",
    ]);
    expect([open.status, open.upstream?.["x-auth-subject"]]).toEqual([200, undefined]);
  });

  test("API key: the key header never reaches the backend, the key's name does", async () => {
    using b = backend();
    const conf = `/api/* -> ${b.url}\n/api/* {\n    auth: api_key\n}\n`;
    await using proxy = await startTestProxy(conf, { toml: `[auth.api_keys]\nci = "${KEY_DIGEST}"\n` });
    const ok = await call(`${proxy.url}/api/x`, { "x-api-key": "mykey" }, b.seen);
    const bad = await call(`${proxy.url}/api/x`, { "x-api-key": "other" }, b.seen);
    expect([ok.status, ok.upstream?.["x-auth-subject"], ok.upstream?.["x-api-key"], bad.status, bad.challenge, bad.upstream]).toEqual([
      200,
      "ci",
      undefined,
      401,
      'ApiKey realm="Restricted", header="X-Api-Key"',
      null,
    ]);
  });

  test("JWT against a local JWKS server: claims forwarded, bad tokens refused, no keys gives 503", async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" };
    let jwksUp = true;
    let fetches = 0;
    const jwks = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: () => (fetches++, jwksUp ? Response.json({ keys: [jwk] }) : new Response("down", { status: 503 })),
    });
    try {
      using b = backend();
      const toml = `[auth]\nenabled = true\nauth_type = "jwt"\n[auth.jwt]\njwks_url = "http://127.0.0.1:${jwks.port}/.well-known/jwks.json"\naudience = "api"\n[auth.jwt.claim_headers]\nemail = "X-Auth-Email"\n`;
      await using proxy = await startTestProxy(`default -> ${b.url}\n`, { toml });
      const sign = (claims: object) =>
        new SignJWT({ sub: "u1", aud: "api", email: "u1@test", ...claims })
          .setProtectedHeader({ alg: "ES256", kid: "k1" })
          .setExpirationTime("5m")
          .sign(privateKey);
      const good = await call(`${proxy.url}/x`, { authorization: `Bearer ${await sign({})}`, "x-auth-email": "forged@test" }, b.seen);
      const wrongAud = await call(`${proxy.url}/x`, { authorization: `Bearer ${await sign({ aud: "other" })}` }, b.seen);
      const none = await call(`${proxy.url}/x`, {}, b.seen);
      expect([
        good.status,
        good.upstream?.["x-auth-subject"],
        good.upstream?.["x-auth-email"],
        wrongAud.status,
        wrongAud.challenge,
        none.status,
        none.challenge,
        fetches,
      ]).toEqual([200, "u1", "u1@test", 401, 'Bearer realm="Restricted", error="invalid_token"', 401, 'Bearer realm="Restricted"', 1]);
      // A fresh proxy whose JWKS server is down answers 503 rather than 401.
      jwksUp = false;
      await using second = await startTestProxy(`default -> ${b.url}\n`, { toml });
      const unavailable = await fetch(`${second.url}/x`, { headers: { authorization: `Bearer ${await sign({})}` } });
      expect([unavailable.status, await unavailable.text()]).toEqual([503, "Service Unavailable"]);
    } finally {
      jwks.stop(true);
    }
  });

  test("global auth covers every route except auth: none, health and metrics", async () => {
    using b = backend();
    const conf = `/open/* -> ${b.url}\n/open/* {\n    auth: none\n}\ndefault -> ${b.url}\n`;
    await using proxy = await startTestProxy(conf, {
      toml: `[auth]\nenabled = true\nauth_type = "basic"\nrealm = "Everything"\n[auth.users]\nbob = "${HASH}"\n`,
    });
    const statuses = await Promise.all(
      ["/x", "/open/x", "/health/live", "/health/ready", "/metrics"].map(async (p) => {
        const r = await fetch(proxy.url + p);
        await r.arrayBuffer();
        return [p, r.status, r.headers.get("www-authenticate")];
      }),
    );
    expect(statuses).toEqual([
      ["/x", 401, 'Basic realm="Everything"'],
      ["/open/x", 200, null],
      ["/health/live", 200, null],
      ["/health/ready", 200, null],
      ["/metrics", 200, null],
    ]);
    expect((await fetch(proxy.url + "/x", { headers: { authorization: basic("bob", "s3cret") } })).status).toBe(200);
  });

  test("a hash printed by hash-password protects a route", async () => {
    const proc = Bun.spawn([process.execPath, "src/main.ts", "hash-password", "correct horse", "--cost", "4"], {
      cwd: `${import.meta.dir}/../..`,
      stdout: "pipe",
      stderr: "pipe",
    });
    const hash = (await new Response(proc.stdout).text()).trim();
    expect(await proc.exited).toBe(0);
    using b = backend();
    await using proxy = await startTestProxy(`default -> ${b.url} @auth:me:${hash}\n`);
    const statuses = [];
    for (const password of ["correct horse", "wrong horse"])
      statuses.push((await fetch(proxy.url, { headers: { authorization: basic("me", password) } })).status);
    expect(statuses).toEqual([200, 401]);
  });
});
