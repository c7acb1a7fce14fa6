import { describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { compile } from "../../src/config/compile.ts";
import { formatIssue, sortIssues } from "../../src/config/issues.ts";
import { configFiles, loadConfig } from "../../src/config/load.ts";
import type { Route } from "../../src/config/snapshot.ts";
import { matchRoute } from "../../src/proxy/route.ts";
import { tempProject } from "../support/project.ts";

const HASH = "$2b$04$Y3l1aozgMmiNay7G48auRuL4BWGRAoC767dsMhnzdAyTCpdk6Oczy";
const KEY_DIGEST = "sha256:5e50f405ace6cbdf17379f4b9f2b0c9f4144c5e380ea0b9298cb02ebd8ffe511";

function load(conf: string, toml: string, files: Record<string, string> = {}) {
  using project = tempProject({ "proxy.conf": conf, "config.toml": toml, ...files });
  const loaded = loadConfig(configFiles(project.conf));
  const lines = sortIssues(loaded.issues).map((i) => formatIssue({ ...i, file: i.file.split("/").pop()! }));
  return { loaded, lines };
}

function snapshotOf(conf: string, toml: string, files: Record<string, string> = {}) {
  const { loaded, lines } = load(conf, toml, files);
  if (!loaded.conf || !loaded.settings) throw new Error(lines.join("\n"));
  return compile({
    version: 1,
    dev: false,
    conf: loaded.conf,
    settings: loaded.settings,
    files: loaded.files,
    auth: loaded.auth,
    apps: [{ name: "shop", hosts: ["shop.test"], port: 7000 }],
  });
}

const routeAt = (s: ReturnType<typeof snapshotOf>, host: string, path: string): Route => matchRoute(s.routes, host, path)!.route;

describe("auth settings are checked at load time (SPEC §7)", () => {
  test("hashes, API keys, JWT sources and claim headers are checked with their line", () => {
    const { lines } = load(
      "default -> http://127.0.0.1:1\n",
      [
        "[auth.users]",
        'alice = "not-a-hash"',
        "[auth.api_keys]",
        `good = "${KEY_DIGEST}"`,
        'plain = "letmein"',
        'short = "sha256:abcd"',
        "[auth.jwt]",
        'secret = "s3cret"',
        'algorithms = ["HS256", "RS256"]',
        "[auth.jwt.claim_headers]",
        'email = "X-Auth-Email"',
        'host = "Host"',
        'bad = "X Bad"',
      ].join("\n"),
    );
    expect(lines).toEqual([
      "config.toml:2:1: error: bad hash for user 'alice': expected a bcrypt hash ($2a$, $2b$ or $2y$, cost 04-13); make one with 'soli-proxy hash-password'",
      "config.toml:6:1: error: API key 'short': 'sha256:' must be followed by 64 hex digits; make it with 'soli-proxy hash-key'",
      "config.toml:9:1: error: algorithm 'RS256' cannot be used with this key source (a secret signs HS256, HS384 or HS512)",
      "config.toml:12:1: error: claim 'host' cannot be forwarded as 'Host': the proxy manages that header",
      "config.toml:13:1: error: claim 'bad': 'X Bad' is not a valid header name",
      "config.toml:5:1: warning: API key 'plain' is stored in plain text; store 'soli-proxy hash-key' output (sha256:…) instead",
    ]);
  });

  test("unreadable or malformed key files are errors naming the file", () => {
    const missing = load("default -> http://127.0.0.1:1\n", '[auth.jwt]\npublic_key_file = "keys/missing.pem"\n').lines;
    expect(missing).toEqual([expect.stringMatching(/^config\.toml:2:1: error: cannot read .*keys\/missing\.pem: ENOENT$/)]);
    const notPem = load("default -> http://127.0.0.1:1\n", '[auth.jwt]\npublic_key_file = "key.pem"\n', { "key.pem": "hello" }).lines;
    expect(notPem).toEqual([expect.stringMatching(/^config\.toml:2:1: error: .*key\.pem is not a PEM public key/)]);
    const badJwks = load("default -> http://127.0.0.1:1\n", '[auth.jwt]\njwks_file = "jwks.json"\n', { "jwks.json": '{"keys": []}' }).lines;
    expect(badJwks).toEqual([expect.stringMatching(/^config\.toml:2:1: error: .*jwks\.json: the key set has no keys$/)]);
  });

  test("a rule asking for jwt without [auth.jwt] is an error on its line; unknown key names warn", () => {
    const { lines } = load(
      "/a/* -> http://127.0.0.1:1\n/a/* {\n    auth: jwt\n}\n/k/* -> http://127.0.0.1:1\n/k/* {\n  auth: api_key\n  keys: one, ghost\n}\n",
      `[auth.api_keys]\none = "${KEY_DIGEST}"\n`,
    );
    expect(lines).toEqual([
      "proxy.conf:3:11: error: auth: jwt needs an [auth.jwt] table in config.toml (SPEC §7.4)",
      "proxy.conf:8:9: warning: keys: 'ghost' is not in [auth.api_keys] of config.toml",
    ]);
  });

  test('backend = "redis" needs [cluster] redis_url, and rate_limiting.redis_url must be the same URL', () => {
    const { lines } = load(
      "default -> http://127.0.0.1:1\n",
      '[rate_limiting]\nenabled = true\nrequests_per_second = 5\nbackend = "redis"\nredis_url = "redis://127.0.0.1"\n',
    );
    const clustered = load("default -> http://127.0.0.1:1\n", '[rate_limiting]\nredis_url = "redis://127.0.0.1"\n[cluster]\nredis_url = "redis://10.0.0.5"\n');
    const same = load("default -> http://127.0.0.1:1\n", '[rate_limiting]\nredis_url = "redis://10.0.0.5"\n[cluster]\nredis_url = "redis://10.0.0.5"\n');
    expect([lines, clustered.lines, same.lines]).toEqual([
      [
        'config.toml:4:1: error: backend = "redis" needs [cluster] redis_url (SPEC §17)',
        "config.toml:5:1: error: rate_limiting.redis_url needs [cluster] redis_url set to the same URL (SPEC §17)",
      ],
      ["config.toml:2:1: error: rate_limiting.redis_url must be the same as cluster.redis_url (or be left out)"],
      [],
    ]);
  });
});

describe("which policy applies (SPEC §7.1)", () => {
  const conf = [
    `/own/* -> http://127.0.0.1:1 @auth:admin:${HASH}`,
    "/own/* {",
    '    realm: "Own realm"',
    "}",
    "/keys/* -> http://127.0.0.1:1",
    "/keys/* {",
    "    auth: api_key",
    "    keys: one",
    "}",
    "/open/* -> http://127.0.0.1:1",
    "/open/* {",
    "    auth: none",
    "}",
    "default -> http://127.0.0.1:1",
  ].join("\n");

  test("own block, @auth users, the global policy and auth: none", () => {
    const toml = `[auth]\nenabled = true\nauth_type = "basic"\nrealm = "Global"\n[auth.users]\nbob = "${HASH}"\n[auth.api_keys]\none = "${KEY_DIGEST}"\ntwo = "plain-two"\n`;
    const s = snapshotOf(conf, toml);
    const describe = (r: Route) => {
      const p = r.auth;
      if (p === null) return null;
      return p.kind === "basic"
        ? [p.kind, p.challenge, p.users.map((u) => u.name)]
        : p.kind === "api_key"
          ? [p.kind, p.challenge, p.keys.map((k) => k.name)]
          : [p.kind, p.challenge];
    };
    expect(
      [routeAt(s, "x", "/own/a"), routeAt(s, "x", "/keys/a"), routeAt(s, "x", "/open/a"), routeAt(s, "x", "/else"), routeAt(s, "shop.test", "/")].map(describe),
    ).toEqual([
      ["basic", 'Basic realm="Own realm"', ["admin"]],
      ["api_key", 'ApiKey realm="Global", header="X-Api-Key"', ["one"]],
      null,
      ["basic", 'Basic realm="Global"', ["bob"]],
      ["basic", 'Basic realm="Global"', ["bob"]],
    ]);
    // One policy object serves every route that shares it.
    expect(routeAt(s, "x", "/else").auth).toBe(routeAt(s, "shop.test", "/").auth);
  });

  test("without global auth only rules with their own policy are protected", () => {
    const s = snapshotOf(conf, "");
    expect([
      routeAt(s, "x", "/own/a").auth?.kind,
      routeAt(s, "x", "/keys/a").auth?.kind,
      routeAt(s, "x", "/else").auth,
      routeAt(s, "shop.test", "/").auth,
    ]).toEqual(["basic", "api_key", null, null]);
  });

  test("JWT policies import the configured key source; claim headers are dropped everywhere", () => {
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const pem = publicKey.export({ type: "spki", format: "pem" }) as string;
    const s = snapshotOf(
      "default -> http://127.0.0.1:1\n",
      '[auth]\nenabled = true\nauth_type = "jwt"\n[auth.jwt]\npublic_key_file = "pub.pem"\nissuer = "me"\n[auth.jwt.claim_headers]\nemail = "X-Auth-Email"\n',
      { "pub.pem": pem },
    );
    const p = routeAt(s, "x", "/").auth!;
    expect(p.kind === "jwt" && [p.source.type, p.algorithms, p.issuer, p.leewaySecs, p.claims, p.challenge, p.invalidChallenge]).toEqual([
      "static",
      ["RS256", "ES256"],
      "me",
      60,
      [{ claim: "email", header: "x-auth-email" }],
      'Bearer realm="Restricted"',
      'Bearer realm="Restricted", error="invalid_token"',
    ]);
    expect([...(s.claimHeaders ?? [])]).toEqual(["x-auth-email"]);
  });

  test("rate limits: the global spec and the rule's own bucket", () => {
    const s = snapshotOf(
      "/a/* -> http://127.0.0.1:1\n/a/* {\n  rate_limit: 600/m burst 20\n}\n/b/* -> http://127.0.0.1:1\n/b/* {\n  rate_limit: 10/s\n}\n",
      "[rate_limiting]\nenabled = true\nrequests_per_second = 2.5\n",
    );
    expect([s.rateLimit, routeAt(s, "x", "/a/1").rateLimit, routeAt(s, "x", "/b/1").rateLimit]).toEqual([
      { perSecond: 2.5, burst: 3 },
      { perSecond: 10, burst: 20 },
      { perSecond: 10, burst: 10 },
    ]);
  });
});

test("user and key names that cannot be a header value are refused", () => {
  const { lines } = load("default -> http://127.0.0.1:1\n", `[auth.users]\n"a\\nb" = "${HASH}"\n[auth.api_keys]\n"k\\tx" = "${KEY_DIGEST}"\n`);
  expect(lines).toEqual([
    // The key's own line cannot be found for an escaped name; its table's line is given.
    "config.toml:1:1: error: user name \"a\\nb\" cannot be empty or contain ':' or control characters",
    'config.toml:3:1: error: API key name "k\\tx" cannot be empty or contain control characters',
  ]);
});
