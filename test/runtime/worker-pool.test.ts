/**
 * The parts of worker mode (SPEC §15.1) that need no process: the sum of drained counters, the
 * breaker merge, the worker count, what a worker compiles from, and token publishing.
 */
import { describe, expect, test } from "bun:test";
import { createPublicKey, createSecretKey, generateKeyPairSync } from "node:crypto";
import { appliedConfig } from "../../src/config/applied.ts";
import { allRoutes, compile } from "../../src/config/compile.ts";
import { configFiles, loadConfig } from "../../src/config/load.ts";
import { configPayload, unpackAuth } from "../../src/runtime/worker-protocol.ts";
import { mergeBreakers, workerCount } from "../../src/runtime/worker-pool.ts";
import { AppMetrics } from "../../src/state/app-metrics.ts";
import { Metrics, type RequestSample } from "../../src/state/metrics.ts";
import { ChallengeTokens } from "../../src/tls/challenge.ts";
import { tempProject } from "../support/project.ts";
import { requestSample } from "../support/samples.ts";
import { waitFor } from "../support/wait.ts";

const sample = requestSample;

const TRAFFIC: RequestSample[] = [
  sample(),
  sample({ status: 502, relayed: false, transportError: true, seconds: 0.2 }),
  sample({ route: "app:shop", upstream: "http://127.0.0.1:20001", status: 404, seconds: 2 }),
  sample({ route: "internal", upstream: null, status: 200, bytesIn: 0 }),
  sample({ status: 503, seconds: 0.0004 }),
];

describe("counters drained by workers and summed by the primary (SPEC §15.1)", () => {
  test("the primary's page over two workers' drains equals one process that saw all the traffic", () => {
    const single = new Metrics();
    const [a, b] = [new Metrics(), new Metrics()];
    TRAFFIC.forEach((s, i) => {
      single.record(s);
      (i % 2 === 0 ? a : b).record(s);
    });
    single.tlsRequest("1.2.3.4", 5000);
    a.tlsRequest("1.2.3.4", 5000);
    single.tunnelFailed();
    b.tunnelFailed();

    const primary = new Metrics();
    primary.absorb(a.drain());
    primary.absorb(b.drain());
    // A drain restarts the worker from zero, so a second report adds only what is new.
    b.record(TRAFFIC[0]!);
    single.record(TRAFFIC[0]!);
    primary.absorb(b.drain());
    primary.absorb(a.drain());

    // Every family matches.
    expect(primary.render(3)).toEqual(single.render(3));
    expect([a.drain().requests, a.render(0).includes("proxy_requests_total 0\n")]).toEqual([0, true]);
  });

  test("per-app traffic: counters add up by slot port, the last request time is the latest", () => {
    const [a, b, primary] = [new AppMetrics(), new AppMetrics(), new AppMetrics()];
    a.record(20001, requestSample({ status: 200, seconds: 10 / 1000, bytesIn: 5, bytesOut: 50 }));
    b.record(20001, requestSample({ status: 502, seconds: 30 / 1000, bytesIn: 0, bytesOut: 11 }));
    b.record(20002, requestSample({ status: 200, seconds: 20 / 1000, bytesIn: 1, bytesOut: 1 }));
    primary.absorb(a.drain());
    primary.absorb(b.drain());
    primary.absorb(a.drain()); // nothing new
    const shop = primary.forPorts([20001, 20002]);
    expect({ ...shop, last_request_ms: typeof shop?.last_request_ms }).toEqual({
      requests: 3,
      bytes_received: 6,
      bytes_sent: 62,
      avg_response_time_ms: 20,
      errors: 1,
      last_request_ms: "number",
    });
  });
});

describe("breaker merge (SPEC §15.1)", () => {
  test("takes the most severe state and the largest counters per origin", () => {
    const closed = (f: number, s = 0) => ({ state: "closed" as const, consecutive_failures: f, consecutive_successes: s });
    expect(
      mergeBreakers([
        { "http://a:1": closed(3), "http://b:1": { state: "half_open", consecutive_failures: 5, consecutive_successes: 1 } },
        { "http://a:1": { state: "open", consecutive_failures: 1, consecutive_successes: 0 }, "http://b:1": closed(0, 0), "http://c:1": closed(1) },
        { "http://b:1": { state: "open", consecutive_failures: 6, consecutive_successes: 0 } },
      ]),
    ).toEqual({
      "http://a:1": { state: "open", consecutive_failures: 3, consecutive_successes: 0 },
      "http://b:1": { state: "open", consecutive_failures: 6, consecutive_successes: 1 },
      "http://c:1": closed(1),
    });
  });
});

describe("how many processes (SPEC §15.1)", () => {
  test('"auto" is one per core on Linux, --dev is always one, a number is taken as is', () => {
    const cores = process.platform === "linux" ? navigator.hardwareConcurrency : 1;
    expect([workerCount("auto", false), workerCount("auto", true), workerCount(4, false), workerCount(4, true), workerCount(1, false)]).toEqual([
      cores,
      1,
      4,
      1,
      1,
    ]);
  });
});

describe("what a worker compiles from (SPEC §15.1)", () => {
  test("the payload survives IPC (structured clone) and compiles to the same snapshot, JWT secret included", () => {
    using project = tempProject({
      "proxy.conf": `api.example.com -> http://127.0.0.1:9001 @auth:admin:${Bun.password.hashSync("pw", { algorithm: "bcrypt", cost: 4 })}\n/api/* -> http://127.0.0.1:9002\n/api/* {\n  auth: jwt\n}\n`,
      "config.toml": '[server]\nworker_threads = 2\n[auth.jwt]\nsecret = "s3cret-s3cret-s3cret-s3cret-s3cret"\n',
    });
    const loaded = loadConfig(configFiles(project.conf));
    expect(loaded.issues.filter((i) => i.severity === "error")).toEqual([]);
    const apps = [{ name: "shop", hosts: ["shop.example.com", "www.shop.example.com"], port: 20001 }];
    const primary = compile({ version: 7, dev: false, conf: loaded.conf!, settings: loaded.settings!, apps, files: loaded.files, auth: loaded.auth });
    const applied = appliedConfig({
      snapshot: primary,
      conf: loaded.conf!,
      settings: loaded.settings!,
      confText: loaded.confText!,
      tomlText: loaded.tomlText,
      auth: loaded.auth,
    });
    const payload = structuredClone(configPayload(applied, apps));
    const auth = unpackAuth(payload.auth);
    const worker = compile({
      version: payload.version,
      dev: payload.dev,
      conf: payload.conf,
      settings: payload.settings,
      apps: payload.apps,
      files: payload.files,
      auth,
    });
    const view = (s: typeof primary) => ({
      version: s.version,
      limits: s.limits,
      door: s.door,
      circuitBreaker: s.circuitBreaker,
      routes: allRoutes(s.routes).map((r) => [r.key, r.app, r.auth?.kind ?? null]),
    });
    expect([payload.conf, payload.settings]).toEqual([loaded.conf!, loaded.settings!]);
    expect(view(worker)).toEqual(view(primary));
    expect(view(worker).routes).toContainEqual(["/api/*", null, "jwt"]);
    expect(auth?.key?.export().toString()).toEqual(loaded.auth?.key?.export().toString());
  });

  test("public keys and key sets are carried too", () => {
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwks = { keys: [{ kty: "oct", k: "AAAA" }] };
    const round = (key: typeof publicKey | null) =>
      unpackAuth(
        structuredClone(
          configPayload(
            {
              snapshot: { version: 1, dev: false, files: { conf: "", toml: "", dir: "" } },
              conf: { rules: [], headers: [] },
              settings: {},
              auth: { key, jwks },
            } as never,
            [],
          ),
        ).auth,
      );
    const pub = round(publicKey);
    const secret = unpackAuth({ key: { type: "secret", base64: Buffer.from("xyz").toString("base64") }, jwks: null });
    expect([
      pub?.key?.export({ type: "spki", format: "pem" }),
      pub?.jwks,
      createPublicKey(publicKey.export({ type: "spki", format: "pem" })).asymmetricKeyType,
      secret?.key?.export().toString(),
      createSecretKey(Buffer.from("xyz")).type,
      unpackAuth(null),
    ]).toEqual([publicKey.export({ type: "spki", format: "pem" }), jwks, "ec", "xyz", "secret", null]);
  });
});

describe("ACME tokens (SPEC §12.6)", () => {
  test("publish resolves only after the relay delivered the token; withdraw relays the removal", async () => {
    const tokens = new ChallengeTokens();
    const relayed: string[] = [];
    let deliver: () => void = () => {};
    tokens.relay = (token, keyAuthorization) => {
      relayed.push(`${token}=${keyAuthorization}`);
      return new Promise<void>((r) => (deliver = r));
    };
    let published = false;
    const publishing = tokens.publish("t1", "t1.ka").then(() => (published = true));
    // Published only once the workers have it: still pending while the relay is undelivered.
    await waitFor(() => relayed.length === 1, "the token relayed to the workers");
    const before = published;
    deliver();
    await publishing;
    const entries = tokens.entries();
    const withdrawing = tokens.withdraw("t1");
    deliver();
    await withdrawing;
    expect({ before, after: published, entries, relayed, size: tokens.size }).toEqual({
      before: false,
      after: true,
      entries: [["t1", "t1.ka"]],
      relayed: ["t1=t1.ka", "t1=null"],
      size: 0,
    });
  });
});
