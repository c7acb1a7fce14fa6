import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import type { AdminEnv, AppFailure, AppsProvider } from "../../src/admin/port.ts";
import { adminAppFor, adminToml, API_KEY } from "../support/admin.ts";

const LOCAL: AdminEnv = { local: true, peer: null };
const KEY = { "x-api-key": API_KEY };
const JSON_HEADERS = { ...KEY, "content-type": "application/json" };

async function call(
  app: { request: (path: string, init?: RequestInit, env?: AdminEnv) => Response | Promise<Response> },
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = JSON_HEADERS,
  env?: AdminEnv,
) {
  const res = await app.request(
    `/api/v1/${path}`,
    { method, headers, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) },
    env,
  );
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text && (res.headers.get("content-type") ?? "").includes("json") ? JSON.parse(text) : text };
}

describe("admin app, fine cases through app.request()", () => {
  test("the control socket needs no credential and no CSRF header, but still refuses OPTIONS", async () => {
    using admin = adminAppFor("default -> http://127.0.0.1:9\n");
    const answers = [
      await call(admin.app, "GET", "status", undefined, {}, LOCAL),
      await call(admin.app, "POST", "reload", undefined, {}, LOCAL),
      await call(admin.app, "OPTIONS", "status", undefined, {}, LOCAL),
      await call(admin.app, "GET", "status", undefined, {}, { local: false, peer: "127.0.0.1" }),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 200, 405, 401]);
  });

  test("an admin without credentials answers only loopback peers", async () => {
    using admin = adminAppFor("default -> http://127.0.0.1:9\n", { toml: adminToml("") });
    const answers = [
      await call(admin.app, "GET", "status", undefined, {}, { local: false, peer: "127.0.0.1" }),
      await call(admin.app, "GET", "status", undefined, {}, { local: false, peer: "::1" }),
      await call(admin.app, "GET", "status", undefined, {}, { local: false, peer: "10.1.2.3" }),
    ];
    expect(answers.map((a) => [a.status, a.body.error ?? "ok"])).toEqual([
      [200, "ok"],
      [200, "ok"],
      [401, "Unauthorized"],
    ]);
  });

  test("the rate-limit hook runs before auth and its headers reach every answer", async () => {
    let allowed = false;
    using admin = adminAppFor("default -> http://127.0.0.1:9\n", {
      providers: {
        rateLimit: () => ({
          allowed,
          headers: allowed ? { "ratelimit-remaining": "4" } : ({ "retry-after": "3", "ratelimit-remaining": "0" } as Record<string, string>),
        }),
      },
    });
    const env: AdminEnv = { local: false, peer: "127.0.0.1" };
    const limited = await call(admin.app, "GET", "status", undefined, {}, env);
    allowed = true;
    const passed = await call(admin.app, "GET", "status", undefined, KEY, env);
    const local = await call(admin.app, "GET", "status", undefined, {}, { ...LOCAL });
    expect([
      limited.status,
      limited.body,
      limited.headers.get("retry-after"),
      passed.status,
      passed.headers.get("ratelimit-remaining"),
      local.headers.get("ratelimit-remaining"),
    ]).toEqual([429, { ok: false, error: "Rate limit exceeded" }, "3", 200, "4", null]);
  });

  test("a valid Basic login passes even with a wrong API key; an API key alone passes the CSRF check", async () => {
    const hash = await Bun.password.hash("pw", { algorithm: "bcrypt", cost: 4 });
    using admin = adminAppFor("default -> http://127.0.0.1:9\n", { env: { ADMIN_USER: "root", ADMIN_PASSWORD: hash } });
    const answers = [
      await call(admin.app, "GET", "status", undefined, { "x-api-key": "wrong", authorization: `Basic ${btoa("root:pw")}` }),
      await call(admin.app, "POST", "reload", undefined, KEY),
      await call(admin.app, "POST", "reload", undefined, { authorization: `Basic ${btoa("root:pw")}` }),
      await call(admin.app, "GET", "status", undefined, { authorization: "Basic !!!not-base64" }),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 200, 403, 401]);
  });

  test("rules sent as JSON get SPEC §11.3 defaults and are written to proxy.conf with their blocks", async () => {
    using admin = adminAppFor("default -> http://127.0.0.1:9\n");
    const added = await call(admin.app, "POST", "routes", {
      matcher: { type: "domain_path", domain: "shop.example.com", path: "/api/" },
      targets: [
        { url: "http://127.0.0.1:1", weight: 70 },
        { url: "http://127.0.0.1:2", weight: 30 },
      ],
      headers: [
        { name: "X-Shop", value: "$host" },
        { name: "Cookie", value: null },
      ],
      options: { auth: "none", rate_limit: "5/s" },
    });
    const got = await call(admin.app, "GET", "routes/1");
    expect([added.status, got.body.data.load_balancing, got.body.data.auth, readFileSync(admin.conf, "utf8")]).toEqual([
      201,
      "weighted",
      [],
      [
        "default -> http://127.0.0.1:9",
        "shop.example.com/api/* -> weight:70 http://127.0.0.1:1/, weight:30 http://127.0.0.1:2/",
        "headers {",
        "    X-Shop: $host",
        "    -Cookie",
        "}",
        "shop.example.com/api/* {",
        "    auth: none",
        "    rate_limit: 5/s",
        "}",
        "",
      ].join("\n"),
    ]);
  });

  test("rules that proxy.conf cannot express are refused before anything is written", async () => {
    const conf = "/p/* -> http://127.0.0.1:1\n/p/* {\n  auth: none\n}\n";
    using admin = adminAppFor(conf);
    const r = await call(admin.app, "POST", "routes", {
      matcher: { type: "prefix", value: "/p/" },
      targets: [{ url: "http://127.0.0.1:2" }],
      options: { auth: "basic" },
    });
    expect([r.status, r.body.error, readFileSync(admin.conf, "utf8"), admin.current().snapshot.version]).toEqual([
      400,
      "Invalid route: cannot be written as proxy.conf: rules 0 and 1 share the source '/p/*' but have different options (an option block applies to every rule with its source)",
      conf,
      1,
    ]);
  });

  test("concurrent writes are applied one after another, none lost", async () => {
    using admin = adminAppFor("default -> http://127.0.0.1:9\n");
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        call(admin.app, "POST", "routes", { matcher: { type: "exact", value: `/r${i}` }, targets: [{ url: "http://127.0.0.1:9" }] }),
      ),
    );
    const indexes = answers.map((a) => a.body.data.index).sort((x, y) => x - y);
    expect([indexes, admin.current().conf.rules.length, admin.current().snapshot.version, readFileSync(admin.conf, "utf8").split("\n").length]).toEqual([
      [1, 2, 3, 4, 5, 6, 7, 8],
      9,
      9,
      10,
    ]);
  });

  test("hash-password refuses what bcrypt cannot hash faithfully", async () => {
    using admin = adminAppFor("default -> http://127.0.0.1:9\n");
    const answers = [
      await call(admin.app, "POST", "hash-password", { password: 42 }),
      await call(admin.app, "POST", "hash-password", { password: "é".repeat(37) }),
      await call(admin.app, "POST", "hash-password", "nope"),
      await call(admin.app, "POST", "hash-password", {}),
    ];
    expect(answers.map((a) => [a.status, a.body.error])).toEqual([
      [400, "password must be a string"],
      [400, "Password is longer than 72 bytes, the most bcrypt uses"],
      [400, 'Invalid JSON: JSON Parse error: Unexpected identifier "nope"'],
      [400, "Password cannot be empty"],
    ]);
  });

  test("GET /metrics serves the provider's Prometheus text; breaker and certificate providers are mapped", async () => {
    let resets = 0;
    using admin = adminAppFor("default -> http://127.0.0.1:9\n", {
      providers: {
        metricsText: () => "# HELP proxy_requests_total Total number of HTTP requests\n",
        breakers: {
          states: () => ({ "http://127.0.0.1:9": { state: "open", consecutive_failures: 5, consecutive_successes: 0 } }),
          reset: () => void resets++,
        },
        certificates: {
          list: () => [{ name: "a.test", file: "a.test.cert.pem", source: "file", not_after: "2030-01-01T00:00:00Z", sans: ["a.test"] }],
          reload: async () => ({ count: 1, refused: [{ file: "b.test.cert.pem", error: "key does not match" }] }),
        },
      },
    });
    const metrics = await call(admin.app, "GET", "metrics");
    const breakers = await call(admin.app, "GET", "circuit-breaker");
    const reset = await call(admin.app, "POST", "circuit-breaker/reset");
    const certs = await call(admin.app, "GET", "certs");
    const reload = await call(admin.app, "POST", "certs/reload");
    expect([
      metrics.status,
      metrics.headers.get("content-type"),
      metrics.body,
      breakers.body.data,
      reset.body.data,
      resets,
      certs.body.data[0].name,
      reload.status,
      reload.body,
    ]).toEqual([
      200,
      "text/plain; version=0.0.4",
      "# HELP proxy_requests_total Total number of HTTP requests\n",
      { "http://127.0.0.1:9": { state: "open", consecutive_failures: 5, consecutive_successes: 0 } },
      { message: "Circuit breaker states reset" },
      1,
      "a.test",
      422,
      {
        ok: false,
        error: "Certificates reloaded, but 1 pair was refused: b.test.cert.pem: key does not match",
        count: 1,
        refused: [{ file: "b.test.cert.pem", error: "key does not match" }],
      },
    ]);
  });

  test("app actions map the provider's failures to 404, 409 and 500", async () => {
    const fail = (kind: AppFailure["kind"], message: string) => Promise.reject({ kind, message } satisfies AppFailure);
    const apps: AppsProvider = {
      list: () => [{ config: { name: "shop" } }],
      get: (name) => (name === "shop" ? { config: { name } } : null),
      metrics: () => ({ shop: { requests: 1 } }),
      systemMetrics: () => ({}),
      appMetrics: () => null,
      deploy: async () => ({ slot: "green" }),
      restart: () => fail("busy", "Deployment already in progress for shop"),
      rollback: () => fail("failed", "shop slot blue did not become healthy"),
      stop: () => fail("not_found", "nope"),
      logs: async (name) => (name === "shop" ? { blue: "b\n", green: "" } : null),
      subscribe: () => () => {},
      busy: () => false,
      phases: ["starting", "health", "switched", "draining", "done", "failed"],
    };
    using admin = adminAppFor("default -> http://127.0.0.1:9\n", { providers: { apps } });
    const answers = [
      await call(admin.app, "POST", "apps/shop/deploy"),
      await call(admin.app, "POST", "apps/shop/restart"),
      await call(admin.app, "POST", "apps/shop/rollback"),
      await call(admin.app, "POST", "apps/shop/stop"),
      await call(admin.app, "GET", "apps/other"),
      await call(admin.app, "GET", "apps/shop/logs"),
      await call(admin.app, "GET", "status"),
    ];
    expect(answers.map((a) => [a.status, a.body.error ?? a.body.data?.message ?? a.body.data?.app_count ?? a.body.data])).toEqual([
      [200, "Deployment started"],
      [409, "Deployment already in progress for shop"],
      [500, "Rollback failed: shop slot blue did not become healthy"],
      [404, "App not found: shop"],
      [404, "App not found: other"],
      [200, { app: "shop", blue: "b\n", green: "" }],
      [200, 1],
    ]);
  });

  test("an admin.api_key change applies at the next request", async () => {
    using admin = adminAppFor("default -> http://127.0.0.1:9\n", { toml: adminToml('api_key = "first"') });
    const before = await call(admin.app, "GET", "status", undefined, { "x-api-key": "second" });
    writeFileSync(`${admin.dir}/config.toml`, adminToml('api_key = "second"'));
    await admin.port.reload();
    const after = await call(admin.app, "GET", "status", undefined, { "x-api-key": "second" });
    expect([before.status, after.status]).toEqual([401, 200]);
  });
});
