/**
 * Cost of each middleware per request (issue 5): the same route with no middleware, Basic auth
 * (cached verification), API key, JWT HS256 and RS256 (verified tokens cached, as a client
 * reusing its token sees), and a per-rule rate limit. Two parts:
 *
 *  1. in-process: each check called directly in a loop (µs per call), including the uncached JWT
 *     signature checks and the metrics recording that every request pays;
 *  2. end to end: wrk against a soli-proxy process per route, reporting req/s and the proxy's
 *     CPU-µs per request (from /proc), the figure that compares across machines.
 *
 *   bun bench/middleware.ts [seconds=4] [connections=32]
 *
 * Needs wrk; uses nginx as the backend when installed. Not run in CI.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { PolicyCompiler } from "../src/config/compile-auth.ts";
import { settingsSchema } from "../src/config/settings.ts";
import { guard } from "../src/proxy/guard.ts";
import { AuthCache } from "../src/state/auth-cache.ts";
import { JwksSets } from "../src/state/jwks.ts";
import { Limiter } from "../src/state/limiter.ts";
import { Metrics } from "../src/state/metrics.ts";
import { BUN, cpuMicros, freePort, have, nginxAvailable, startHelloBackend, ROOT, start, table, waitPort, wrk } from "./lib.ts";

const seconds = Number(process.argv[2] ?? 4);
const connections = Number(process.argv[3] ?? 32);

const HASH = await Bun.password.hash("s3cret", { algorithm: "bcrypt", cost: 10 });
const KEY = "bench-key-0123456789";
const KEY_DIGEST = `sha256:${new Bun.CryptoHasher("sha256").update(KEY).digest("hex")}`;
const SECRET = "a-shared-secret-long-enough-for-hs256-bench";
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const rsaPem = rsa.publicKey.export({ type: "spki", format: "pem" }) as string;
const hsToken = await new SignJWT({ sub: "bench" }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("2h").sign(new TextEncoder().encode(SECRET));
const rsToken = await new SignJWT({ sub: "bench" }).setProtectedHeader({ alg: "RS256" }).setExpirationTime("2h").sign(rsa.privateKey);
const basicHeader = `Basic ${btoa("admin:s3cret")}`;

// ---- 1. in-process -------------------------------------------------------------------------
async function perCall(name: string, n: number, fn: () => unknown): Promise<Record<string, string | number>> {
  for (let i = 0; i < Math.min(n, 2000); i++) await fn();
  const t = performance.now();
  for (let i = 0; i < n; i++) {
    const r = fn();
    if (r instanceof Promise) await r;
  }
  return { check: name, "µs/call": (((performance.now() - t) * 1000) / n).toFixed(2) };
}

const policies = (toml: object) => new PolicyCompiler(settingsSchema.parse(toml));
const rule = (options: object, auth: { username: string; hash: string }[] = []) => ({
  matcher: { type: "default" as const },
  targets: [],
  load_balancing: "round-robin" as const,
  auth,
  headers: [],
  options,
});
const basicPolicy = policies({}).forRule(rule({}, [{ username: "admin", hash: HASH }]))!;
const keyPolicy = policies({ auth: { api_keys: { bench: KEY_DIGEST } } }).forRule(rule({ auth: "api_key" }))!;
const hsPolicy = policies({ auth: { jwt: { secret: SECRET } } }).forRule(rule({ auth: "jwt" }))!;
const rsCompiler = new PolicyCompiler(settingsSchema.parse({ auth: { jwt: { public_key_file: "x.pem", algorithms: ["RS256"] } } }), {
  key: rsa.publicKey,
  jwks: null,
});
const rsPolicy = rsCompiler.forRule(rule({ auth: "jwt" }))!;
const state = { auth: new AuthCache(), jwks: new JwksSets() };
const req = (headers: Record<string, string>) => new Request("http://bench.test/", { headers });
const basicReq = req({ authorization: basicHeader });
const keyReq = req({ "x-api-key": KEY });
const hsReq = req({ authorization: `Bearer ${hsToken}` });
const rsReq = req({ authorization: `Bearer ${rsToken}` });
const limiter = new Limiter();
const buckets = limiter.rule("/rl/*");
const metrics = new Metrics();
const sample = {
  route: "/none/*",
  upstream: "http://127.0.0.1:8080",
  status: 200,
  seconds: 0.0004,
  bytesIn: 0,
  bytesOut: 12,
  relayed: true,
  transportError: false,
};

const micro = [
  await perCall("basic, cached (SHA-256 + lookup)", 200_000, () => guard(basicReq, basicPolicy, state)),
  await perCall("basic, uncached (bcrypt cost 10)", 20, () =>
    guard(req({ authorization: basicHeader }), basicPolicy, { auth: new AuthCache(), jwks: state.jwks }),
  ),
  await perCall("api key", 200_000, () => guard(keyReq, keyPolicy, state)),
  await perCall("jwt HS256, cached", 200_000, () => guard(hsReq, hsPolicy, state)),
  await perCall("jwt HS256, uncached (jose)", 5_000, () => guard(hsReq, hsPolicy, { auth: new AuthCache(), jwks: state.jwks })),
  await perCall("jwt RS256, cached", 200_000, () => guard(rsReq, rsPolicy, state)),
  await perCall("jwt RS256, uncached (jose)", 5_000, () => guard(rsReq, rsPolicy, { auth: new AuthCache(), jwks: state.jwks })),
  await perCall("rate limit take", 500_000, () => limiter.take(buckets, "203.0.113.9", { perSecond: 1e9, burst: 1e9 })),
  await perCall("metrics record", 500_000, () => metrics.record(sample)),
];

// ---- 2. end to end -------------------------------------------------------------------------
const rows: Record<string, string | number>[] = [];
if (!have("wrk")) console.warn("wrk is not installed (apt-get install wrk): end-to-end part skipped");
else {
  const dir = mkdtempSync(join(tmpdir(), "soli-bench-mw-"));
  const backendPort = await freePort();
  const backend = startHelloBackend(dir, backendPort);
  await waitPort(backendPort);
  const up = `http://127.0.0.1:${backendPort}`;
  const proxyConf = [
    `/none/* -> ${up}`,
    `/basic/* -> ${up} @auth:admin:${HASH}`,
    `/key/* -> ${up}`,
    "/key/* {\n    auth: api_key\n}",
    `/jwt/* -> ${up}`,
    "/jwt/* {\n    auth: jwt\n}",
    `/rl/* -> ${up}`,
    "/rl/* {\n    rate_limit: 100000000/s burst 100000000\n}",
  ].join("\n");
  const startProxy = async (name: string, jwt: string) => {
    const sub = join(dir, name);
    const port = await freePort();
    Bun.spawnSync(["mkdir", "-p", sub]);
    writeFileSync(join(sub, "proxy.conf"), proxyConf + "\n");
    writeFileSync(join(sub, "rsa.pem"), rsaPem);
    writeFileSync(
      join(sub, "config.toml"),
      `[server]\nbind = "127.0.0.1:${port}"\nhttps_port = 0\nworker_threads = 1\n[admin]\nenabled = false\n[logging]\nlevel = "warn"\n[auth.api_keys]\nbench = "${KEY_DIGEST}"\n[auth.jwt]\n${jwt}\n`,
    );
    const proc = start([BUN, join(ROOT, "src/main.ts"), "-c", join(sub, "proxy.conf")]);
    await waitPort(port);
    return { proc, port };
  };
  const hs = await startProxy("hs", `secret = "${SECRET}"`);
  const rs = await startProxy("rs", 'public_key_file = "rsa.pem"\nalgorithms = ["RS256"]');
  // Each middleware run is preceded by a run of the plain route on the same proxy process, so the
  // difference is measured under the same conditions (the machine is shared and drifts).
  const cases: [string, { proc: { pid: number }; port: number }, string, string[]][] = [
    ["basic (cached)", hs, "/basic/x", ["-H", `Authorization: ${basicHeader}`]],
    ["api key", hs, "/key/x", ["-H", `X-Api-Key: ${KEY}`]],
    ["jwt HS256 (cached)", hs, "/jwt/x", ["-H", `Authorization: Bearer ${hsToken}`]],
    ["jwt RS256 (cached)", rs, "/jwt/x", ["-H", `Authorization: Bearer ${rsToken}`]],
    ["rate limit", hs, "/rl/x", []],
  ];
  const measure = async (proxy: { proc: { pid: number }; port: number }, path: string, headers: string[]) => {
    const url = `http://127.0.0.1:${proxy.port}${path}`;
    await wrk(url, 1, connections, headers); // warm-up
    const before = cpuMicros(proxy.proc.pid);
    const r = await wrk(url, seconds, connections, headers);
    return { rps: r.rps, cpu: (cpuMicros(proxy.proc.pid) - before) / Math.max(1, r.requests), errors: r.errors };
  };
  try {
    for (const [name, proxy, path, headers] of cases) {
      const base = await measure(proxy, "/none/x", []);
      const m = await measure(proxy, path, headers);
      rows.push({
        middleware: name,
        "req/s none": Math.round(base.rps),
        "req/s with": Math.round(m.rps),
        "CPU-µs/req none": base.cpu.toFixed(1),
        "CPU-µs/req with": m.cpu.toFixed(1),
        "Δ CPU-µs/req": (m.cpu - base.cpu).toFixed(1),
        errors: base.errors + m.errors,
      });
    }
  } finally {
    hs.proc.kill();
    rs.proc.kill();
    backend.kill();
  }
}

console.log(`\nbench/middleware.ts — ${new Date().toISOString()} — bun ${Bun.version}\n\nIn-process, per call:\n`);
console.log(table(micro));
if (rows.length) {
  console.log(`\nEnd to end: wrk -t1 -c${connections} -d${seconds}s, HTTP/1.1 keep-alive, backend ${nginxAvailable() ? "nginx" : "Bun"}:\n`);
  console.log(table(rows));
}
