import { afterEach, describe, expect, spyOn, test } from "bun:test";
import { SignJWT } from "jose";
import { PolicyCompiler } from "../../src/config/compile-auth.ts";
import type { Rule } from "../../src/config/model.ts";
import type { AuthGrant, AuthPolicy } from "../../src/config/snapshot.ts";
import { settingsSchema } from "../../src/config/settings.ts";
import { guard, type Verdict } from "../../src/proxy/guard.ts";
import { AuthCache } from "../../src/state/auth-cache.ts";
import { JwksSets } from "../../src/state/jwks.ts";

/** Published bcrypt test vectors: OpenBSD/Openwall ($2a$) and the PHP manual's password_verify example ($2y$). */
const OPENWALL_2A = { password: "U*U", hash: "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW" };
const PHP_2Y = { password: "rasmuslerdorf", hash: "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a" };

function policyFor(toml: object, rule: Partial<Rule> = {}): AuthPolicy {
  const settings = settingsSchema.parse(toml);
  const p = new PolicyCompiler(settings).forRule({
    matcher: { type: "default" },
    targets: [],
    load_balancing: "round-robin",
    auth: [],
    headers: [],
    options: null,
    ...rule,
  });
  if (!p) throw new Error("no policy");
  return p;
}

const state = () => ({ auth: new AuthCache(), jwks: new JwksSets() });
const basicHeader = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` });
const req = (headers: Record<string, string> = {}) => new Request("http://x/", { headers });

/** A verdict as data: the grant's header lines, or the status and challenge of the answer. */
async function outcome(v: Verdict | Promise<Verdict>): Promise<unknown> {
  const r = await v;
  if (r instanceof Response) return { status: r.status, challenge: r.headers.get("www-authenticate"), body: await r.text() };
  return { headers: r.headers, drop: r.drop ? [...r.drop] : null };
}

let verifySpy: ReturnType<typeof spyOn> | null = null;
afterEach(() => verifySpy?.mockRestore());
/** Counts bcrypt verifications (and the hash each used) while still running them for real. */
function countVerifications(): string[] {
  const used: string[] = [];
  const real = Bun.password.verify.bind(Bun.password);
  verifySpy = spyOn(Bun.password, "verify").mockImplementation(((password: string, hash: string, alg?: "bcrypt") => {
    used.push(hash);
    return real(password, hash, alg);
  }) as typeof Bun.password.verify);
  return used;
}

describe("Basic auth (SPEC §7.2)", () => {
  test("hashes made by other tools verify: $2a$, $2y$ and Bun's own $2b$", async () => {
    const own = await Bun.password.hash("s3cret", { algorithm: "bcrypt", cost: 4 });
    const policy = policyFor({ auth: { users: { openwall: OPENWALL_2A.hash, php: PHP_2Y.hash, bun: own } } }, { options: { auth: "basic" } });
    const results = await Promise.all([
      outcome(guard(req(basicHeader("openwall", OPENWALL_2A.password)), policy, state())),
      outcome(guard(req(basicHeader("php", PHP_2Y.password)), policy, state())),
      outcome(guard(req(basicHeader("bun", "s3cret")), policy, state())),
      outcome(guard(req(basicHeader("bun", "wrong")), policy, state())),
    ]);
    expect(results).toEqual([
      { headers: "x-auth-subject: openwall\r\n", drop: null },
      { headers: "x-auth-subject: php\r\n", drop: null },
      { headers: "x-auth-subject: bun\r\n", drop: null },
      { status: 401, challenge: 'Basic realm="Restricted"', body: "Authentication required" },
    ]);
  });

  test("exactly one bcrypt verification per attempt, against a dummy hash for an unknown user", async () => {
    const policy = policyFor({}, { auth: [{ username: "admin", hash: OPENWALL_2A.hash }] });
    const used = countVerifications();
    const s = state();
    expect(await outcome(guard(req(basicHeader("nobody", "U*U")), policy, s))).toMatchObject({ status: 401 });
    expect(await outcome(guard(req(basicHeader("admin", "nope")), policy, s))).toMatchObject({ status: 401 });
    expect(used.length).toBe(2);
    expect(used[0]).not.toBe(OPENWALL_2A.hash);
    expect(used[0]!.slice(0, 7)).toBe("$2b$05$"); // the dummy has the users' cost
    expect(used[1]).toBe(OPENWALL_2A.hash);
  });

  test("success is cached and answered synchronously; failures are never cached", async () => {
    const policy = policyFor({}, { auth: [{ username: "admin", hash: OPENWALL_2A.hash }] });
    const used = countVerifications();
    const s = state();
    const good = req(basicHeader("admin", "U*U"));
    const first = guard(good, policy, s);
    expect(first).toBeInstanceOf(Promise);
    await first;
    const second = guard(req(basicHeader("admin", "U*U")), policy, s);
    expect(second).not.toBeInstanceOf(Promise);
    expect((second as AuthGrant).headers).toBe("x-auth-subject: admin\r\n");
    for (let i = 0; i < 3; i++) await guard(req(basicHeader("admin", "bad")), policy, s);
    expect(used.length).toBe(4);
    // A different user set (a reload that changed hashes) does not reuse the cached entry.
    const other = policyFor(
      {},
      {
        auth: [
          { username: "admin", hash: OPENWALL_2A.hash },
          { username: "x", hash: PHP_2Y.hash },
        ],
      },
    );
    expect(guard(req(basicHeader("admin", "U*U")), other, s)).toBeInstanceOf(Promise);
  });

  test("concurrent requests with the same header share one verification", async () => {
    const policy = policyFor({}, { auth: [{ username: "admin", hash: OPENWALL_2A.hash }] });
    const used = countVerifications();
    const s = state();
    const results = await Promise.all(Array.from({ length: 5 }, () => outcome(guard(req(basicHeader("admin", "U*U")), policy, s))));
    expect([used.length, new Set(results.map((r) => JSON.stringify(r))).size]).toEqual([1, 1]);
  });

  test("passwords count their first 72 bytes, as standard bcrypt", async () => {
    const long = "p".repeat(72);
    const hash = await Bun.password.hash(long, { algorithm: "bcrypt", cost: 4 });
    const policy = policyFor({}, { auth: [{ username: "u", hash }] });
    expect([
      await outcome(guard(req(basicHeader("u", long + "anything after byte 72")), policy, state())),
      await outcome(guard(req(basicHeader("u", long.slice(0, 71))), policy, state())),
    ]).toEqual([{ headers: "x-auth-subject: u\r\n", drop: null }, expect.objectContaining({ status: 401 })]);
  });

  test("a missing, non-Basic or malformed header is refused without bcrypt; no users refuses everyone", async () => {
    const policy = policyFor({}, { auth: [{ username: "admin", hash: OPENWALL_2A.hash }], options: { realm: "Back office" } });
    const used = countVerifications();
    const answers = [req(), req({ authorization: "Bearer abc" }), req({ authorization: `Basic ${btoa("no-colon")}` })].map((r) => guard(r, policy, state()));
    expect(answers.every((a) => a instanceof Response && a.status === 401 && a.headers.get("www-authenticate") === 'Basic realm="Back office"')).toBe(true);
    const nobody = policyFor({ auth: { users: {} } }, { options: { auth: "basic" } });
    expect(await outcome(guard(req(basicHeader("a", "b")), nobody, state()))).toMatchObject({ status: 401 });
    expect(used.length).toBe(0);
  });
});

describe("API-key auth (SPEC §7.3)", () => {
  const toml = {
    auth: {
      header: "X-Key",
      api_keys: { ci: "sha256:5e50f405ace6cbdf17379f4b9f2b0c9f4144c5e380ea0b9298cb02ebd8ffe511", legacy: "plain-legacy" },
      jwt: { secret: "x", claim_headers: { email: "X-Auth-Email" } },
    },
  };

  test("hashed and plain entries match; the key header is dropped upstream and the name forwarded", async () => {
    const policy = policyFor(toml, { options: { auth: "api_key" } });
    expect([
      await outcome(guard(req({ "x-key": "mykey" }), policy, state())),
      await outcome(guard(req({ "x-key": "plain-legacy" }), policy, state())),
      await outcome(guard(req({ "x-key": "wrong" }), policy, state())),
      await outcome(guard(req({ "x-api-key": "mykey" }), policy, state())),
    ]).toEqual([
      { headers: "x-auth-subject: ci\r\n", drop: ["x-key", "x-auth-email"] },
      { headers: "x-auth-subject: legacy\r\n", drop: ["x-key", "x-auth-email"] },
      { status: 401, challenge: 'ApiKey realm="Restricted", header="X-Key"', body: "Authentication required" },
      { status: 401, challenge: 'ApiKey realm="Restricted", header="X-Key"', body: "Authentication required" },
    ]);
  });

  test("keys: limits which names count", async () => {
    const policy = policyFor(toml, { options: { auth: "api_key", keys: ["legacy"] } });
    expect([await outcome(guard(req({ "x-key": "mykey" }), policy, state())), await outcome(guard(req({ "x-key": "plain-legacy" }), policy, state()))]).toEqual(
      [expect.objectContaining({ status: 401 }), expect.objectContaining({ headers: "x-auth-subject: legacy\r\n" })],
    );
  });
});

describe("JWT auth (SPEC §7.4)", () => {
  const secret = new TextEncoder().encode("a-long-enough-shared-secret-for-hs256");
  const toml = (jwt: object = {}) => ({
    auth: {
      jwt: {
        secret: "a-long-enough-shared-secret-for-hs256",
        issuer: "https://issuer.test",
        audience: ["api", "web"],
        leeway_secs: 60,
        claim_headers: { email: "X-Auth-Email", roles: "X-Auth-Roles" },
        ...jwt,
      },
    },
  });
  const sign = (claims: Record<string, unknown>, alg = "HS256") => new SignJWT(claims).setProtectedHeader({ alg }).sign(secret);
  const now = () => Math.floor(Date.now() / 1000);
  const base = () => ({ sub: "user-1", iss: "https://issuer.test", aud: "api", exp: now() + 600 });
  const bearer = (token: string) => req({ authorization: `Bearer ${token}` });
  const invalid = { status: 401, challenge: 'Bearer realm="Restricted", error="invalid_token"', body: "Authentication required" };

  test("a valid token forwards sub and the configured claims (strings as is, others JSON)", async () => {
    const policy = policyFor(toml(), { options: { auth: "jwt" } });
    const token = await sign({ ...base(), email: "a@b.test", roles: ["admin", "ops"] });
    expect(await outcome(guard(bearer(token), policy, state()))).toEqual({
      headers: 'x-auth-subject: user-1\r\nx-auth-email: a@b.test\r\nx-auth-roles: ["admin","ops"]\r\n',
      drop: ["x-auth-email", "x-auth-roles"],
    });
  });

  test("exp required and checked, nbf, issuer, audience and algorithm enforced, with the leeway", async () => {
    const policy = policyFor(toml(), { options: { auth: "jwt" } });
    const { exp: _exp, ...noExp } = base();
    const cases = await Promise.all([
      sign({ ...base(), exp: now() - 30 }), // within the 60 s leeway
      sign({ ...base(), exp: now() - 120 }),
      sign(noExp),
      sign({ ...base(), nbf: now() + 300 }),
      sign({ ...base(), iss: "https://other.test" }),
      sign({ ...base(), aud: "somebody-else" }),
      sign(base(), "HS384"),
    ]);
    const results = await Promise.all(cases.map((t) => outcome(guard(bearer(t), policy, state()))));
    expect(results).toEqual([expect.objectContaining({ headers: expect.stringContaining("user-1") }), invalid, invalid, invalid, invalid, invalid, invalid]);
  });

  test("a missing token gets the challenge without error; garbage gets invalid_token", async () => {
    const policy = policyFor(toml(), { options: { auth: "jwt", realm: "api" } });
    expect([await outcome(guard(req(), policy, state())), await outcome(guard(bearer("not.a.jwt"), policy, state()))]).toEqual([
      { status: 401, challenge: 'Bearer realm="api"', body: "Authentication required" },
      { status: 401, challenge: 'Bearer realm="api", error="invalid_token"', body: "Authentication required" },
    ]);
  });

  test("claims that would break the request head are sent JSON-escaped", async () => {
    const policy = policyFor(toml(), { options: { auth: "jwt" } });
    const token = await sign({ ...base(), sub: "evil\r\nx-admin: 1", email: "zoë@b.test" });
    expect(await outcome(guard(bearer(token), policy, state()))).toMatchObject({
      headers: 'x-auth-subject: "evil\\r\\nx-admin: 1"\r\nx-auth-email: "zo\\u00eb@b.test"\r\n',
    });
  });

  test("a verified token is cached and answered synchronously", async () => {
    const policy = policyFor(toml(), { options: { auth: "jwt" } });
    const s = state();
    const token = await sign(base());
    expect(guard(bearer(token), policy, s)).toBeInstanceOf(Promise);
    await guard(bearer(token), policy, s);
    const again = guard(bearer(token), policy, s);
    expect(again).not.toBeInstanceOf(Promise);
    expect((again as AuthGrant).headers).toBe("x-auth-subject: user-1\r\n");
  });
});
