/**
 * The snapshot is shaped for the request path and carries nothing raw; the rules, settings and
 * text as written live in the applied-config record (issue 19, Deliver item 2).
 */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AdminEnv } from "../../src/admin/port.ts";
import { compile } from "../../src/config/compile.ts";
import { configFiles, loadConfig } from "../../src/config/load.ts";
import { adminAppFor, adminToml } from "../support/admin.ts";
import { tempProject } from "../support/project.ts";

const LOCAL: AdminEnv = { local: true, peer: null };
/** bcrypt of "pw" at cost 4, and sha256 of "letmein" as [auth.api_keys] takes it. */
const HASH = "$2b$04$Y3l1aozgMmiNay7G48auRuL4BWGRAoC767dsMhnzdAyTCpdk6Oczy";
const KEY_DIGEST = "sha256:5e50f405ace6cbdf17379f4b9f2b0c9f4144c5e380ea0b9298cb02ebd8ffe511";

/** proxy.conf and config.toml touching every table the compiler reads. */
const CONF = [
  "headers {",
  "  X-Forwarded-For: $client_ip",
  "}",
  "api.example.com -> http://127.0.0.1:9001, http://127.0.0.1:9002 @lb:failover",
  "/basic/* -> http://127.0.0.1:9003",
  "/basic/* {",
  "  auth: basic",
  '  realm: "Staff"',
  "  rate_limit: 10/s burst 20",
  "}",
  "/keys/* -> http://127.0.0.1:9004",
  "/keys/* {",
  "  auth: api_key",
  "}",
  "/jwt/* -> http://127.0.0.1:9005",
  "/jwt/* {",
  "  auth: jwt",
  "}",
  "~^/users/(\\d+)$ -> http://127.0.0.1:9006/users/$1",
  "default -> http://127.0.0.1:9007",
  "",
].join("\n");

const TOML = [
  "[server]",
  'bind = "127.0.0.1:0"',
  "https_port = 0",
  'trusted_proxies = ["10.0.0.0/8"]',
  "[tls]",
  "force_https = true",
  "hsts_max_age_seconds = 600",
  "[limits]",
  "request_timeout = 7",
  'max_request_size = "1mb"',
  "[rate_limiting]",
  "enabled = true",
  "requests_per_second = 5",
  "burst_size = 10",
  "[circuit_breaker]",
  "failure_threshold = 3",
  "recovery_timeout_secs = 4",
  "success_threshold = 1",
  "failure_status_codes = [500, 502]",
  "[auth.users]",
  `alice = "${HASH}"`,
  "[auth.api_keys]",
  `ci = "${KEY_DIGEST}"`,
  "[auth.jwt]",
  'secret = "s3cret-s3cret-s3cret-s3cret-s3cret"',
  "[auth.jwt.claim_headers]",
  'email = "X-Auth-Email"',
  "",
].join("\n");

/** Every object reachable from `root` (Map values included), and every property name met on the way. */
function reach(root: unknown): { objects: Set<object>; keys: Set<string> } {
  const objects = new Set<object>();
  const keys = new Set<string>();
  const walk = (value: unknown): void => {
    if (value === null || typeof value !== "object" || objects.has(value)) return;
    objects.add(value);
    if (ArrayBuffer.isView(value)) return;
    if (value instanceof Map) {
      for (const v of value.values()) walk(v);
      return;
    }
    for (const key of Object.keys(value)) {
      keys.add(key);
      walk((value as Record<string, unknown>)[key]);
    }
  };
  walk(root);
  return { objects, keys };
}

/** The `data` of an admin answer on the control socket. */
async function call<T>(app: ReturnType<typeof adminAppFor>["app"], method: string, path: string): Promise<T> {
  const res = await app.request(`/api/v1/${path}`, { method }, LOCAL);
  return ((await res.json()) as { data: T }).data;
}

interface ConfigView {
  limits: { request_timeout: number };
  server: { https_port: number };
  rules: { matcher: unknown }[];
}

describe("the snapshot carries nothing raw; the applied record does (issue 19)", () => {
  test("a compiled snapshot holds no config.toml key, nor the rules or settings objects it was compiled from", () => {
    using project = tempProject({ "proxy.conf": CONF, "config.toml": TOML });
    const files = configFiles(project.conf);
    const loaded = loadConfig(files);
    expect(loaded.issues.filter((i) => i.severity === "error")).toEqual([]);
    const snapshot = compile({ version: 1, dev: false, conf: loaded.conf!, settings: loaded.settings!, files, auth: loaded.auth });
    const { objects, keys } = reach(snapshot);
    const raw = [loaded.conf!, loaded.conf!.rules, loaded.settings!, ...Object.values(loaded.settings!)];
    expect({
      snakeCaseKeys: [...keys].filter((k) => k.includes("_")),
      rawObjectsReached: raw.filter((o) => objects.has(o)).length,
      hasConfOrSettings: ["conf", "settings"].filter((k) => k in snapshot),
      circuitBreaker: snapshot.circuitBreaker,
    }).toEqual({
      snakeCaseKeys: [],
      rawObjectsReached: 0,
      hasConfOrSettings: [],
      // [circuit_breaker] in the units the breakers use; a probe permit outlives request_timeout by 1 s.
      circuitBreaker: { failureThreshold: 3, recoveryMs: 4000, successThreshold: 1, failureStatusCodes: [500, 502], permitTimeoutMs: 8000 },
    });
  });

  test("after a reload, GET /config, /status and /routes show the settings and rules applied, restart-only keys at their running values", async () => {
    using admin = adminAppFor("default -> http://127.0.0.1:9\n", { toml: adminToml(undefined, "[limits]\nrequest_timeout = 5\n") });
    const before = await call<ConfigView>(admin.app, "GET", "config");
    writeFileSync(admin.conf, "/new/* -> http://127.0.0.1:10\ndefault -> http://127.0.0.1:9\n");
    // request_timeout applies on reload; server.https_port needs a restart (SPEC §13).
    writeFileSync(join(admin.dir, "config.toml"), adminToml(undefined, "[limits]\nrequest_timeout = 9\n").replace("https_port = 0", "https_port = 8443"));
    const reloaded = await call<{ version: number }>(admin.app, "POST", "reload");
    const config = await call<ConfigView>(admin.app, "GET", "config");
    const status = await call<{ config_version: number; route_count: number }>(admin.app, "GET", "status");
    const routes = await call<unknown[]>(admin.app, "GET", "routes");
    const applied = admin.current();
    expect({
      before: [before.limits.request_timeout, before.rules.length],
      version: reloaded.version,
      config: [config.limits.request_timeout, config.server.https_port, config.rules.map((r) => r.matcher)],
      status: [status.config_version, status.route_count],
      routes: routes.length,
      record: [applied.snapshot.version, applied.settings.limits.request_timeout, applied.confText.startsWith("/new/*"), "settings" in applied.snapshot],
      requestTimeoutMs: applied.snapshot.limits.requestTimeoutMs,
      // Shared by every reader, changed by none.
      frozen: [Object.isFrozen(applied), Object.isFrozen(applied.settings.limits), Object.isFrozen(applied.conf.rules[0]!.matcher)],
    }).toEqual({
      before: [5, 1],
      version: 2,
      config: [9, 0, [{ type: "prefix", value: "/new/" }, { type: "default" }]],
      status: [2, 2],
      routes: 2,
      record: [2, 9, true, false],
      requestTimeoutMs: 9000,
      frozen: [true, true, true],
    });
  });
});
