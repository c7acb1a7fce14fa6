import { describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { adminToml, api, API_KEY, startAdminProxy } from "../support/admin.ts";
import { backend } from "../support/backend.ts";
import { waitFor } from "../support/wait.ts";
import pkg from "../../package.json";

const HASH = "$2b$04$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234";

async function text(url: string, init?: RequestInit): Promise<string> {
  const res = await fetch(url, init);
  return `${res.status} ${await res.text()}`;
}

describe("admin API over HTTP (SPEC §11)", () => {
  test("GET /status reports the version, counts, real ports and the config version", async () => {
    await using proxy = await startAdminProxy("default -> http://127.0.0.1:9\n/a -> http://127.0.0.1:9\n");
    const { status, body } = await api(proxy.adminUrl, "GET", "status");
    const data = body.data;
    expect([status, body.ok, typeof data.uptime_secs]).toEqual([200, true, "number"]);
    expect({ ...data, uptime_secs: 0 }).toEqual({
      version: pkg.version,
      uptime_secs: 0,
      route_count: 2,
      app_count: 0,
      bind: `127.0.0.1:${proxy.handle.http.port}`,
      https_port: proxy.handle.https!.port,
      tls_mode: "auto",
      admin_bind: `127.0.0.1:${proxy.handle.admin!.port}`,
      config_version: 1,
      last_reload_error: null,
    });
  });

  test("GET /config shows every settings table and the rules, with secrets and hashes blanked", async () => {
    const extra = `[auth]\nusers = { alice = "${HASH}" }\napi_keys = { ci = "plain-secret" }\n[auth.jwt]\nsecret = "jwt-secret"\n`;
    await using proxy = await startAdminProxy(`/x -> http://127.0.0.1:9 @auth:bob:${HASH}\n`, { toml: adminToml(undefined, extra) });
    const { body } = await api(proxy.adminUrl, "GET", "config");
    const data = body.data;
    expect(Object.keys(data)).toEqual([
      "server",
      "tls",
      "letsencrypt",
      "admin",
      "auth",
      "limits",
      "health",
      "metrics",
      "logging",
      "rate_limiting",
      "circuit_breaker",
      "apps",
      "rules",
    ]);
    expect([data.admin.api_key, data.auth.users, data.auth.api_keys, data.auth.jwt.secret, data.rules[0].auth, data.server.bind]).toEqual([
      "",
      { alice: "" },
      { ci: "" },
      "",
      [{ username: "bob", hash: "" }],
      "127.0.0.1:0",
    ]);
    const raw = JSON.stringify(body);
    expect([raw.includes(HASH), raw.includes(API_KEY), raw.includes("plain-secret"), raw.includes("jwt-secret")]).toEqual([false, false, false, false]);
  });

  test("routes CRUD changes the traffic, persists to proxy.conf and survives a restart", async () => {
    using a = backend(() => new Response("A"));
    using b = backend(() => new Response("B"));
    const conf = `# the catch-all\ndefault -> ${a.url}\n`;
    const proxy = await startAdminProxy(conf);
    try {
      const added = await api(proxy.adminUrl, "POST", "routes", { matcher: { type: "prefix", value: "/b/" }, targets: [{ url: b.url }] });
      const listed = await api(proxy.adminUrl, "GET", "routes");
      const one = await api(proxy.adminUrl, "GET", "routes/1");
      const viaB = await text(`${proxy.url}/b/x`);
      const updated = await api(proxy.adminUrl, "PUT", "routes/1", { matcher: { type: "prefix", value: "/b/" }, targets: [{ url: a.url }] });
      const viaA = await text(`${proxy.url}/b/x`);
      expect([added.status, added.body, listed.body.data.length, one.body.data.targets, viaB, updated.status, updated.body, viaA]).toEqual([
        201,
        { ok: true, data: { index: 1, message: "Route added" } },
        2,
        [{ url: `${b.url}/`, weight: 100 }],
        "200 B",
        200,
        { ok: true, data: { message: "Route updated" } },
        "200 A",
      ]);
      expect(readFileSync(proxy.project.conf, "utf8")).toBe(`${conf}/b/* -> ${a.url}/\n`);

      const deleted = await fetch(`${proxy.adminUrl}/api/v1/routes/0`, { method: "DELETE", headers: { "x-api-key": API_KEY } });
      expect([deleted.status, await deleted.text(), await text(`${proxy.url}/other`), readFileSync(proxy.project.conf, "utf8")]).toEqual([
        204,
        "",
        "421 Misdirected Request",
        `/b/* -> ${a.url}/\n`,
      ]);
      await proxy.handle.shutdown();

      // A new proxy on the same file has the edited rules.
      const { startProxy } = await import("../../src/runtime/runtime.ts");
      const { silentLogger } = await import("../../src/lib/log.ts");
      const again = await startProxy({ confPath: proxy.project.conf, watch: false, logger: silentLogger(), env: {} });
      try {
        expect([await text(`http://127.0.0.1:${again.http.port}/b/y`), again.applied().conf.rules.length]).toEqual(["200 A", 1]);
      } finally {
        await again.shutdown();
      }
    } finally {
      await proxy.stop();
    }
  });

  test("route writes keep the file's mode and the layout of rules they do not touch", async () => {
    const conf = "# API\n/api/* -> http://127.0.0.1:1, \\\n         http://127.0.0.1:2\n\n# fallback\ndefault -> http://127.0.0.1:9\n";
    await using proxy = await startAdminProxy(conf);
    chmodSync(proxy.project.conf, 0o640);
    const r = await api(proxy.adminUrl, "PUT", "routes/1", { matcher: { type: "default" }, targets: [{ url: "http://127.0.0.1:10" }] });
    expect([r.status, readFileSync(proxy.project.conf, "utf8"), statSync(proxy.project.conf).mode & 0o777]).toEqual([
      200,
      conf.replace("default -> http://127.0.0.1:9", "default -> http://127.0.0.1:10/"),
      0o640,
    ]);
  });

  test("PUT with an empty hash keeps the stored hash of that user, and no answer shows a hash", async () => {
    await using proxy = await startAdminProxy(`/x -> http://127.0.0.1:9 @auth:bob:${HASH}\n`);
    const before = await api(proxy.adminUrl, "GET", "routes/0");
    const rule = { ...before.body.data, targets: [{ url: "http://127.0.0.1:10", weight: 100 }] };
    const put = await api(proxy.adminUrl, "PUT", "routes/0", rule);
    const after = await api(proxy.adminUrl, "GET", "routes/0");
    const newUser = await api(proxy.adminUrl, "PUT", "routes/0", { ...rule, auth: [{ username: "carol", hash: "" }] });
    expect([before.body.data.auth, put.status, after.body.data.auth, readFileSync(proxy.project.conf, "utf8"), newUser.status, newUser.body.error]).toEqual([
      [{ username: "bob", hash: "" }],
      200,
      [{ username: "bob", hash: "" }],
      `/x -> http://127.0.0.1:10/ @auth:bob:${HASH}\n`,
      400,
      "Invalid route: auth.0.hash: bad @auth hash for user 'carol': expected a bcrypt hash ($2a$, $2b$ or $2y$, cost 04-13); make one with 'soli-proxy hash-password'",
    ]);
  });

  test("invalid route JSON is refused with a message that says what is wrong, and nothing changes", async () => {
    const conf = "default -> http://127.0.0.1:9\n";
    await using proxy = await startAdminProxy(conf);
    const answers = await Promise.all([
      api(proxy.adminUrl, "POST", "routes", { matcher: { type: "glob", value: "*" }, targets: [{ url: "http://a:1" }] }),
      api(proxy.adminUrl, "POST", "routes", { matcher: { type: "exact", value: "/x" }, targets: [{ url: "ftp://a" }] }),
      api(proxy.adminUrl, "POST", "routes", { matcher: { type: "exact", value: "/x" }, targets: [] }),
      api(proxy.adminUrl, "POST", "routes", "{not json"),
      api(proxy.adminUrl, "GET", "routes/x"),
      api(proxy.adminUrl, "GET", "routes/5"),
      api(proxy.adminUrl, "PUT", "routes/5", { matcher: { type: "default" }, targets: [{ url: "http://a:1" }] }),
      api(proxy.adminUrl, "DELETE", "routes/5"),
      api(proxy.adminUrl, "PUT", "config", { rules: [{ matcher: { type: "exact", value: "nope" }, targets: [{ url: "http://a:1" }] }] }),
    ]);
    expect(answers.map((a) => [a.status, a.body.error])).toEqual([
      [400, "Invalid route: unknown matcher type: glob"],
      [400, "Invalid route: targets.0.url: unsupported scheme 'ftp:' in 'ftp://a' (use http, https, ws, wss or redirect)"],
      [400, "Invalid route: targets: empty target list: a rule needs at least one target after '->'"],
      [400, "Invalid JSON: JSON Parse error: Expected '}'"],
      [400, "Invalid route index"],
      [404, "Route index 5 not found"],
      [404, "Route index 5 not found"],
      [404, "Route index 5 not found"],
      [400, "Invalid config: rules.0.matcher.value: an exact path must start with '/'"],
    ]);
    expect([readFileSync(proxy.project.conf, "utf8"), proxy.handle.current().version]).toEqual([conf, 1]);
  });

  test("PUT /config replaces every rule; unchanged rules keep their comments", async () => {
    using a = backend(() => new Response("A"));
    const conf = `# keep me\n/keep -> ${a.url}/\n# old\n/old -> http://127.0.0.1:9\n`;
    await using proxy = await startAdminProxy(conf);
    const rules = (await api(proxy.adminUrl, "GET", "config")).body.data.rules;
    const put = await api(proxy.adminUrl, "PUT", "config", { rules: [rules[0], { matcher: { type: "exact", value: "/new" }, targets: [{ url: a.url }] }] });
    expect([put.status, put.body, readFileSync(proxy.project.conf, "utf8"), await text(`${proxy.url}/new`)]).toEqual([
      200,
      { ok: true, data: { message: "Configuration updated" } },
      `# keep me\n/keep -> ${a.url}/\n/new -> ${a.url}/\n`,
      "200 A",
    ]);
  });

  test("POST /reload applies the files; a broken file answers 422 with file:line:col issues and status shows it", async () => {
    using a = backend(() => new Response("A"));
    await using proxy = await startAdminProxy("default -> http://127.0.0.1:9\n");
    writeFileSync(proxy.project.conf, `default -> ${a.url}\n`);
    const good = await api(proxy.adminUrl, "POST", "reload");
    const served = await text(`${proxy.url}/`);
    writeFileSync(proxy.project.conf, "default -> http://127.0.0.1:9\n/x -> nope://\n");
    const bad = await api(proxy.adminUrl, "POST", "reload");
    const status = await api(proxy.adminUrl, "GET", "status");
    const message = `unsupported scheme 'nope:' in 'nope://' (use http, https, ws, wss or redirect)`;
    expect([
      good.status,
      good.body,
      served,
      bad.status,
      bad.body,
      status.body.data.config_version,
      status.body.data.last_reload_error,
      await text(`${proxy.url}/`),
    ]).toEqual([
      200,
      { ok: true, data: { message: "Configuration reloaded", version: 2 } },
      "200 A",
      422,
      { ok: false, error: `Reload failed: ${proxy.project.conf}:2:7: ${message}`, issues: [{ file: proxy.project.conf, line: 2, column: 7, message }] },
      2,
      `${proxy.project.conf}:2:7: error: ${message}`,
      "200 A",
    ]);
  });

  test("a write whose reload is rejected restores the previous proxy.conf and answers 422", async () => {
    const conf = "default -> http://127.0.0.1:9\n";
    await using proxy = await startAdminProxy(conf);
    const toml = readFileSync(proxy.project.toml, "utf8");
    writeFileSync(proxy.project.toml, `${toml}\n[limits]\nrequest_timeout = "soon"\n`);
    const r = await api(proxy.adminUrl, "POST", "routes", { matcher: { type: "exact", value: "/x" }, targets: [{ url: "http://127.0.0.1:9" }] });
    expect([
      r.status,
      r.body.error.startsWith(`Reload failed: ${proxy.project.toml}:`),
      r.body.issues.length,
      readFileSync(proxy.project.conf, "utf8"),
      proxy.handle.current().version,
    ]).toEqual([422, true, 1, conf, 1]);
  });

  test("unknown paths are 404 without an _admin app", async () => {
    await using proxy = await startAdminProxy("default -> http://127.0.0.1:9\n");
    const answer = await api(proxy.adminUrl, "GET", "nothing-here");
    expect([answer.status, answer.body.error]).toEqual([404, "Not found"]);
    expect(await text(`${proxy.adminUrl}/elsewhere`, { headers: { "x-api-key": API_KEY } })).toBe('404 {"ok":false,"error":"Not found"}');
  });

  test("GET /certs lists the certificates in service and POST /certs/reload rescans, 422 naming refused pairs", async () => {
    await using proxy = await startAdminProxy("default -> http://127.0.0.1:9\n");
    const before = await api(proxy.adminUrl, "GET", "certs");
    writeFileSync(join(proxy.project.dir, "certs", "broken.example.com.cert.pem"), "not a certificate");
    writeFileSync(join(proxy.project.dir, "certs", "broken.example.com.key.pem"), "not a key");
    const reload = await api(proxy.adminUrl, "POST", "certs/reload", undefined, { "x-api-key": API_KEY });
    const page = await (await fetch(`${proxy.url}/metrics`)).text();
    expect([
      before.body.data.map((c: { name: string; source: string }) => [c.name, c.source]),
      reload.status,
      JSON.stringify(reload.body).includes("broken.example.com.cert.pem"),
      /proxy_certificate_expiry_timestamp_seconds\{name="self-signed"\} \d{10}\n/.test(page),
    ]).toEqual([[["self-signed", "self-signed"]], 422, true, true]);
  });

  test("GET /metrics serves the same Prometheus page as the proxy listeners", async () => {
    await using proxy = await startAdminProxy("default -> http://127.0.0.1:9\n");
    await fetch(`${proxy.url}/health/live`);
    const page = await fetch(`${proxy.adminUrl}/api/v1/metrics`, { headers: { "x-api-key": API_KEY } });
    const body = await page.text();
    expect([
      page.status,
      page.headers.get("content-type")?.startsWith("text/plain"),
      body.includes("# HELP proxy_requests_total Total number of HTTP requests"),
      /proxy_requests_total 1\b/.test(body),
    ]).toEqual([200, true, true, true]);
  });

  test("the global rate limit applies to the admin API before its auth, but never to the control socket", async () => {
    await using proxy = await startAdminProxy("default -> http://127.0.0.1:9\n", {
      toml: adminToml(undefined, "[rate_limiting]\nenabled = true\nrequests_per_second = 0.001\nburst_size = 2\n"),
    });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetch(`${proxy.adminUrl}/api/v1/status`, { headers: { "x-api-key": "wrong" } })).status);
    const viaSocket = await fetch("http://localhost/api/v1/status", { unix: proxy.handle.controlSocket! } as RequestInit);
    expect([statuses, viaSocket.status]).toEqual([[401, 401, 429, 429], 200]);
  });

  test("GET /circuit-breaker shows each upstream's breaker and POST /circuit-breaker/reset closes them", async () => {
    const dead = Bun.serve({ port: 0, fetch: () => new Response() });
    const port = dead.port;
    dead.stop(true);
    await using proxy = await startAdminProxy(`default -> http://127.0.0.1:${port}\n`, {
      toml: adminToml(undefined, "[circuit_breaker]\nfailure_threshold = 2\n"),
    });
    for (let i = 0; i < 2; i++) await fetch(`${proxy.url}/`);
    const before = await api(proxy.adminUrl, "GET", "circuit-breaker");
    const reset = await api(proxy.adminUrl, "POST", "circuit-breaker/reset", undefined, { "x-api-key": API_KEY });
    const after = await api(proxy.adminUrl, "GET", "circuit-breaker");
    expect([before.body.data, reset.body.data, after.body.data]).toEqual([
      { [`http://127.0.0.1:${port}`]: { state: "open", consecutive_failures: 2, consecutive_successes: 0 } },
      { message: "Circuit breaker states reset" },
      {},
    ]);
  });

  test("POST /hash-password returns a bcrypt hash of the password", async () => {
    await using proxy = await startAdminProxy("default -> http://127.0.0.1:9\n");
    const r = await api(proxy.adminUrl, "POST", "hash-password", { password: "s3cret" });
    const empty = await api(proxy.adminUrl, "POST", "hash-password", { password: "" });
    expect([
      r.status,
      r.body.data.format,
      /^\$2b\$12\$/.test(r.body.data.hash),
      await Bun.password.verify("s3cret", r.body.data.hash),
      empty.status,
      empty.body.error,
    ]).toEqual([200, "bcrypt", true, true, 400, "Password cannot be empty"]);
  });
});

describe("admin API auth and request guards (SPEC §11.1)", () => {
  test("an API key is required when configured; wrong or missing keys get 401", async () => {
    await using proxy = await startAdminProxy("default -> http://127.0.0.1:9\n");
    const answers = await Promise.all([
      api(proxy.adminUrl, "GET", "status", undefined, {}),
      api(proxy.adminUrl, "GET", "status", undefined, { "x-api-key": "wrong" }),
      api(proxy.adminUrl, "GET", "status"),
    ]);
    expect(answers.map((a) => [a.status, a.body.ok, a.headers.get("www-authenticate")])).toEqual([
      [401, false, null],
      [401, false, null],
      [200, true, null],
    ]);
  });

  test("Basic auth with ADMIN_USER and a bcrypt ADMIN_PASSWORD; failures carry WWW-Authenticate", async () => {
    const hash = await Bun.password.hash("pw", { algorithm: "bcrypt", cost: 4 });
    await using proxy = await startAdminProxy("default -> http://127.0.0.1:9\n", { toml: adminToml(""), env: { ADMIN_USER: "root", ADMIN_PASSWORD: hash } });
    const basic = (user: string, pass: string) => ({ authorization: `Basic ${btoa(`${user}:${pass}`)}` });
    const answers = await Promise.all([
      api(proxy.adminUrl, "GET", "status", undefined, basic("root", "pw")),
      api(proxy.adminUrl, "GET", "status", undefined, basic("root", "nope")),
      api(proxy.adminUrl, "GET", "status", undefined, basic("admin", "pw")),
      api(proxy.adminUrl, "GET", "status", undefined, {}),
    ]);
    expect(answers.map((a) => [a.status, a.headers.get("www-authenticate")])).toEqual([
      [200, null],
      [401, 'Basic realm="Admin"'],
      [401, 'Basic realm="Admin"'],
      [401, 'Basic realm="Admin"'],
    ]);
  });

  test("writes without an API key need X-Requested-With; OPTIONS is refused; bodies over 1 MiB are 413", async () => {
    const hash = await Bun.password.hash("pw", { algorithm: "bcrypt", cost: 4 });
    await using proxy = await startAdminProxy("default -> http://127.0.0.1:9\n", { env: { ADMIN_USER: "root", ADMIN_PASSWORD: hash } });
    const auth = { authorization: `Basic ${btoa("root:pw")}` };
    const answers = await Promise.all([
      api(proxy.adminUrl, "POST", "reload", undefined, auth),
      api(proxy.adminUrl, "POST", "reload", undefined, { ...auth, "x-requested-with": "test" }),
      api(proxy.adminUrl, "POST", "reload"),
      api(proxy.adminUrl, "OPTIONS", "routes"),
      api(proxy.adminUrl, "POST", "hash-password", JSON.stringify({ password: "x".repeat(1024 * 1024) })),
    ]);
    expect(answers.map((a) => [a.status, a.body.error ?? a.body.data.message])).toEqual([
      [403, "cross-site request rejected"],
      [200, "Configuration reloaded"],
      [200, "Configuration reloaded"],
      [405, "Method not allowed"],
      [413, "Request body too large (limit 1 MiB)"],
    ]);
  });

  test("a non-loopback admin bind without a credential is refused and logged; the proxy keeps serving", async () => {
    using a = backend(() => new Response("A"));
    await using proxy = await startAdminProxy(`default -> ${a.url}\n`, {
      toml: adminToml("").replace('[admin]\nenabled = true\nbind = "127.0.0.1:0"', '[admin]\nenabled = true\nbind = "0.0.0.0:0"'),
    });
    const refused = proxy.logs().find((l) => String(l.msg).startsWith("admin API not started"));
    expect([proxy.handle.admin, refused?.level, await text(`${proxy.url}/`)]).toEqual([null, "error", "200 A"]);
  });

  test("an open loopback admin warns; a taken admin port is logged and the proxy keeps serving", async () => {
    using a = backend(() => new Response("A"));
    await using open = await startAdminProxy(`default -> ${a.url}\n`, { toml: adminToml("") });
    const warned = open.logs().find((l) => String(l.msg).startsWith("admin API is open"));
    const taken = open.handle.admin!.port;
    await using second = await startAdminProxy(`default -> ${a.url}\n`, {
      toml: adminToml().replace('bind = "127.0.0.1:0"\napi_key', `bind = "127.0.0.1:${taken}"\napi_key`),
    });
    const failed = await waitFor(
      () => second.logs().find((l) => l.msg === "admin API could not bind; the proxy keeps running without it"),
      "the bind failure log line",
    );
    expect([
      warned?.level,
      (await api(open.adminUrl, "GET", "status", undefined, {})).status,
      second.handle.admin,
      failed.level,
      await text(`${second.url}/`),
    ]).toEqual(["warn", 200, null, "error", "200 A"]);
  });
});

describe("admin credentials from .env (SPEC §11.1)", () => {
  test("ADMIN_USER/ADMIN_PASSWORD come from .env beside proxy.conf; a clear password is hashed with a warning", async () => {
    await using proxy = await startAdminProxy("default -> http://127.0.0.1:9\n", {
      toml: adminToml(""),
      files: { ".env": "# admin\nADMIN_USER=ops\nexport ADMIN_PASSWORD='plain pw'\n" },
    });
    const ok = await api(proxy.adminUrl, "GET", "status", undefined, { authorization: `Basic ${btoa("ops:plain pw")}` });
    const bad = await api(proxy.adminUrl, "GET", "status", undefined, { authorization: `Basic ${btoa("ops:other")}` });
    const warning = proxy.logs().find((l) => String(l.msg).startsWith("ADMIN_PASSWORD is not a bcrypt hash"));
    expect([ok.status, bad.status, warning?.level, readFileSync(join(proxy.project.dir, ".env"), "utf8").includes("plain pw")]).toEqual([
      200,
      401,
      "warn",
      true,
    ]);
  });
});
