import { describe, expect, test } from "bun:test";
import { exportJWK, generateKeyPair, SignJWT, jwtVerify } from "jose";
import { JWKS_FAILURE_COOLDOWN_MS, JWKS_MAX_AGE_MS, JWKS_UNKNOWN_KID_COOLDOWN_MS, JwksUnavailable, RemoteJwks } from "../../src/state/jwks.ts";

async function keyPair(kid: string) {
  const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" };
  const sign = () => new SignJWT({ sub: kid }).setProtectedHeader({ alg: "RS256", kid }).setExpirationTime("1h").sign(privateKey);
  return { jwk, sign };
}

/** A JWKS server on port 0 that serves whatever `keys` holds and counts the fetches. */
function jwksServer(keys: () => object[] | null) {
  let fetches = 0;
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch() {
      fetches++;
      const k = keys();
      return k === null ? new Response("down", { status: 500 }) : Response.json({ keys: k });
    },
  });
  return { url: `http://127.0.0.1:${server.port}/jwks.json`, fetches: () => fetches, [Symbol.dispose]: () => server.stop(true) };
}

describe("remote JWKS (SPEC §7.4)", () => {
  test("fetched on first use, cached 10 minutes, then fetched again", async () => {
    const a = await keyPair("a");
    using server = jwksServer(() => [a.jwk]);
    let now = 0;
    const set = new RemoteJwks(server.url, () => now);
    const token = await a.sign();
    expect(server.fetches()).toBe(0);
    await jwtVerify(token, set.resolve);
    await jwtVerify(token, set.resolve);
    now += JWKS_MAX_AGE_MS - 1;
    await jwtVerify(token, set.resolve);
    expect(server.fetches()).toBe(1);
    now += 1;
    expect((await jwtVerify(token, set.resolve)).payload.sub).toBe("a");
    expect(server.fetches()).toBe(2);
  });

  test("an unknown kid refetches the set, at most every 30 s", async () => {
    const a = await keyPair("a");
    const b = await keyPair("b");
    let served = [a.jwk];
    using server = jwksServer(() => served);
    let now = 0;
    const set = new RemoteJwks(server.url, () => now);
    await jwtVerify(await a.sign(), set.resolve);
    const tokenB = await b.sign();
    // Within 30 s of the last fetch, an unknown kid fails without fetching.
    now += JWKS_UNKNOWN_KID_COOLDOWN_MS - 1;
    served = [a.jwk, b.jwk];
    await expect(jwtVerify(tokenB, set.resolve)).rejects.toMatchObject({ code: "ERR_JWKS_NO_MATCHING_KEY" });
    expect(server.fetches()).toBe(1);
    // After 30 s it fetches again and finds the new key; a flood of made-up kids then waits again.
    now += 1;
    expect((await jwtVerify(tokenB, set.resolve)).payload.sub).toBe("b");
    const c = await keyPair("c");
    const tokenC = await c.sign();
    for (let i = 0; i < 5; i++) await expect(jwtVerify(tokenC, set.resolve)).rejects.toMatchObject({ code: "ERR_JWKS_NO_MATCHING_KEY" });
    expect(server.fetches()).toBe(2);
  });

  test("no keys at all is JwksUnavailable; a failed refresh keeps the known keys", async () => {
    const a = await keyPair("a");
    let served: object[] | null = null;
    using server = jwksServer(() => served);
    let now = 0;
    const set = new RemoteJwks(server.url, () => now);
    const token = await a.sign();
    await expect(jwtVerify(token, set.resolve)).rejects.toBeInstanceOf(JwksUnavailable);
    served = [a.jwk];
    // Retries wait for the failure cooldown rather than hammering the server.
    await expect(jwtVerify(token, set.resolve)).rejects.toBeInstanceOf(JwksUnavailable);
    expect(server.fetches()).toBe(1);
    now += JWKS_FAILURE_COOLDOWN_MS;
    await jwtVerify(token, set.resolve);
    served = null;
    now += JWKS_MAX_AGE_MS;
    expect((await jwtVerify(token, set.resolve)).payload.sub).toBe("a");
    expect(server.fetches()).toBe(3);
  });

  test("an unreachable JWKS URL is JwksUnavailable", async () => {
    const set = new RemoteJwks("http://127.0.0.1:1/jwks.json");
    const a = await keyPair("a");
    await expect(jwtVerify(await a.sign(), set.resolve)).rejects.toBeInstanceOf(JwksUnavailable);
  });

  test("concurrent first uses share one fetch", async () => {
    const a = await keyPair("a");
    using server = jwksServer(() => [a.jwk]);
    const set = new RemoteJwks(server.url);
    const token = await a.sign();
    await Promise.all(Array.from({ length: 10 }, () => jwtVerify(token, set.resolve)));
    expect(server.fetches()).toBe(1);
  });
});
