/**
 * soli-proxy side by side with nginx, HAProxy and Caddy, in one run, on one machine.
 *
 *   bun bench/compare.ts [--seconds 5] [--only http1,body100k,body1m,h2tls,tlsnew,rules1000] [--proxies soli,solistream,nginx,haproxy,caddy,bare,floor]
 *                        [--dashboard 1|streams] [--rounds 1]
 *
 * Installs nothing: it checks for Debian's nginx, haproxy, caddy, wrk and h2load (apt-get install
 * nginx haproxy caddy wrk nghttp2-client) and skips what is missing. One nginx backend serves a
 * 12-byte and a 100 KB body; every proxy gets an equivalent minimal config (keep-alive upstreams,
 * logging off, one worker/thread/process) and the same load. For each scenario it prints req/s,
 * p50, p99, the proxy's CPU-µs per request (from /proc/<pid>/stat before and after, all threads)
 * and its peak RSS, plus each proxy's ratio to nginx. The machine is shared and noisy: compare the
 * ratios within one run, not absolute figures across runs. "bare" is bench/passthrough.ts, a
 * 20-line Bun.serve + fetch() relay with no routing or forwarding headers: the floor of any proxy
 * on Bun.serve (not in the rule-list scenario, having no rules). "floor" is bench/relay-floor.ts,
 * Bun.serve in front of Bun.connect keep-alive sockets with no logic at all: the CPU per request
 * any proxy built like soli-proxy pays to the runtime and the kernel (12-byte scenarios only).
 *
 * `--dashboard 1` turns soli-proxy's admin listener on and measures it twice per scenario: as is,
 * then with the dashboard's Overview open in a headless chromium (SPEC §18: its SSE streams and
 * charts live) for the whole run, so the two rows of one run show what an open dashboard costs.
 * The browser then competes for this machine's cores; `--dashboard streams` instead only reads the
 * two SSE streams the Overview keeps open, which is what the proxy serves when the browser runs
 * elsewhere (the usual case: a laptop at the end of an SSH tunnel).
 *
 * "solistream" is soli-proxy with limits.buffer_response_max = 0: every body above 12 KiB streamed
 * (chunked, no Content-Length), beside the default that reads bodies up to 1 MiB whole to keep
 * their length (body100k, body1m). The rule-list scenario runs each proxy with 1 rule and with
 * 1000 in alternating rounds of the same run, so the ratio between them is not the machine's drift
 * between two scenarios.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { makeCa, makeLeaf } from "../test/support/certs.ts";
import { BUN, cpuMicros, freePort, have, peakRssMiB, ROOT, start, table, waitPort, wrk, type LoadResult } from "./lib.ts";

// Functions handed to page.evaluate() run in the browser; this project's types are Bun's, no DOM.
declare const document: any;

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "");
const seconds = Number(args.get("seconds") ?? 5);
const rounds = Math.max(1, Number(args.get("rounds") ?? 1));
const only = new Set((args.get("only") ?? "http1,body100k,body1m,h2tls,tlsnew,rules1000").split(","));
const wanted = new Set((args.get("proxies") ?? "soli,nginx,haproxy,caddy,bare").split(","));
/** "1": the Overview open in chromium on this machine; "streams": only the page's two SSE streams, read here. */
const dashboard = args.get("dashboard") === "1" || args.get("dashboard") === "streams" ? args.get("dashboard")! : null;

for (const tool of ["nginx", "wrk"])
  if (!have(tool) && !Bun.which(tool, { PATH: "/usr/sbin:/usr/bin" })) throw new Error(`${tool} is required (apt-get install ${tool})`);
const NGINX = Bun.which("nginx", { PATH: "/usr/sbin:/usr/bin" })!;

const dir = join(tmpdir(), `soli-compare-${process.pid}`);
mkdirSync(dir, { recursive: true });
const ca = await makeCa("bench CA");
const leaf = await makeLeaf(ca, ["localhost", "127.0.0.1", "::1"]);
writeFileSync(join(dir, "cert.pem"), leaf.cert);
writeFileSync(join(dir, "key.pem"), leaf.key);
writeFileSync(join(dir, "both.pem"), leaf.cert + leaf.key);
writeFileSync(join(dir, "ca.pem"), ca.cert);
writeFileSync(join(dir, "big.bin"), Buffer.alloc(100 * 1024, 120));
writeFileSync(join(dir, "big1m.bin"), Buffer.alloc(1024 * 1024, 121));

// ---- backend: nginx serving a 12-byte body and a 100 KB file ----
const backendPort = await freePort();
const backend = startNginx(
  "backend",
  `
    server {
      listen 127.0.0.1:${backendPort};
      location = /big { alias ${dir}/big.bin; }
      location = /big1m { alias ${dir}/big1m.bin; }
      location / { return 200 "hello world\\n"; }
    }`,
);
await waitPort(backendPort);

interface Proxy {
  name: string;
  http: number;
  https: number;
  proc: Subprocess;
  /** The process doing the proxying (nginx: the worker, not the master). */
  pid: () => number;
  /** soli-proxy's admin port when --dashboard is on. */
  admin?: number;
  /** Opens the dashboard for the run; the returned function closes it. */
  during?: () => Promise<() => Promise<void>>;
}

const rules1000 = Number(args.get("rules") ?? 1000);
/** Rules each proxy is started with: 1 for the plain scenarios, rules1000 for the rule-list one. */
let ruleCount = 1;
let proxies: Proxy[] = [];
/** The rule-list scenario's proxies, started beside the 1-rule ones. */
let many: Proxy[] = [];
async function startProxies(rules: number): Promise<Proxy[]> {
  ruleCount = rules;
  const set: Proxy[] = [];
  if (wanted.has("soli")) {
    const soli = await startSoli();
    set.push(soli);
    if (dashboard === "1") set.push({ ...soli, name: "soli-proxy, dashboard open", during: () => openDashboard(soli.admin!) });
    if (dashboard === "streams") set.push({ ...soli, name: "soli-proxy, dashboard streams", during: () => openStreams(soli.admin!) });
  }
  if (wanted.has("solistream") && rules === 1) set.push(await startSoli("soli-proxy, streamed", "[limits]\nbuffer_response_max = 0\n"));
  if (wanted.has("nginx")) set.push(await startNginxProxy());
  if (wanted.has("haproxy") && have("haproxy")) set.push(await startHaproxy());
  if (wanted.has("caddy") && have("caddy")) set.push(await startCaddy());
  if (wanted.has("bare") && rules === 1) set.push(await startBare());
  if (wanted.has("floor") && rules === 1) set.push(await startFloor());
  return set;
}
try {
  proxies = await startProxies(1);

  const scenarios: { key: string; title: string; run: (url: string, https: string) => Promise<LoadResult>; direct?: string }[] = [
    {
      key: "http1",
      title: "HTTP/1.1 keep-alive, 12-byte body (wrk -t1 -c50)",
      run: (u) => wrk(`${u}/`, seconds, 50),
      direct: `http://127.0.0.1:${backendPort}`,
    },
    {
      key: "body100k",
      title: "HTTP/1.1 keep-alive, 100 KB body (wrk -t1 -c50)",
      run: (u) => wrk(`${u}/big`, seconds, 50),
      direct: `http://127.0.0.1:${backendPort}`,
    },
    {
      key: "body1m",
      title: "HTTP/1.1 keep-alive, 1 MiB body (wrk -t1 -c50)",
      run: (u) => wrk(`${u}/big1m`, seconds, 50),
      direct: `http://127.0.0.1:${backendPort}`,
    },
    { key: "h2tls", title: "HTTPS + HTTP/2, 10 connections x 10 streams (h2load -c10 -m10)", run: (_u, s) => h2load(`${s}/`, seconds) },
    {
      key: "tlsnew",
      title: "HTTPS, new TLS connection per request (wrk -c10, Connection: close)",
      run: (_u, s) => wrk(`${s}/`, seconds, 10, ["-H", "Connection: close"]),
    },
    { key: "rules1000", title: `${rules1000}-rule config, matching rule last (wrk -t1 -c50)`, run: (u) => wrk(`${u}/target/x`, seconds, 50) },
  ];

  console.log(`\nbench/compare.ts — ${new Date().toISOString()} — ${seconds}s per run, ${rounds} round(s), bun ${Bun.version}, ${versions()}`);
  for (const sc of scenarios.filter((s) => only.has(s.key))) {
    if (sc.key === "h2tls" && !have("h2load")) {
      console.log(`\n${sc.title}: skipped (h2load missing: apt-get install nghttp2-client)`);
      continue;
    }
    if (sc.key === "rules1000") {
      await interleavedRules(sc.title, sc.run, Math.max(3, rounds));
      continue;
    }
    const rows: Record<string, string | number>[] = [];
    if (sc.direct) {
      const r = await sc.run(sc.direct, sc.direct);
      rows.push(row("backend direct", r, null, null));
    }
    // With --rounds N every proxy is measured N times, in alternating order so neither the first
    // nor the last slot of a round favours one; the row shows its median run by req/s.
    const runs = new Map<Proxy, [LoadResult, number][]>();
    for (let round = 0; round < rounds; round++) {
      for (const p of round % 2 === 0 ? proxies : [...proxies].reverse()) {
        const close = (await p.during?.()) ?? null;
        try {
          await sc.run(`http://127.0.0.1:${p.http}`, `https://localhost:${p.https}`).catch(() => null); // warm-up (short runs below)
          const pid = p.pid();
          const before = cpuMicros(pid);
          const r = await sc.run(`http://127.0.0.1:${p.http}`, `https://localhost:${p.https}`);
          runs.set(p, [...(runs.get(p) ?? []), [r, (cpuMicros(pid) - before) / Math.max(1, r.requests)]]);
        } finally {
          await close?.();
        }
      }
    }
    const results: [Proxy, LoadResult, number][] = proxies.map((p) => {
      const sorted = [...runs.get(p)!].sort((a, b) => a[0].rps - b[0].rps);
      const [r, cpu] = sorted[Math.floor(sorted.length / 2)]!;
      return [p, r, cpu];
    });
    const nginx = results.find(([p]) => p.name === "nginx");
    for (const [p, r, cpu] of results) rows.push(row(p.name, r, cpu, p.pid(), nginx ? [nginx[1], nginx[2]] : null));
    console.log(`\n${sc.title}\n${table(rows)}`);
  }
} finally {
  for (const p of [...proxies, ...many]) p.proc.kill();
  backend.kill();
}

/**
 * Each proxy with 1 rule and with rules1000, in `alternations` alternating runs: CPU and requests
 * summed per configuration, so both see the same machine (runs minutes apart differ by more than
 * the rule count costs).
 */
async function interleavedRules(title: string, run: (url: string, https: string) => Promise<LoadResult>, alternations: number): Promise<void> {
  many = await startProxies(rules1000);
  const rows: Record<string, string | number>[] = [];
  for (const big of many) {
    const small = proxies.find((p) => p.name === big.name);
    if (!small) continue;
    const totals = new Map<Proxy, { cpu: number; requests: number; rps: number; last: LoadResult | null }>([
      [small, { cpu: 0, requests: 0, rps: 0, last: null }],
      [big, { cpu: 0, requests: 0, rps: 0, last: null }],
    ]);
    for (const p of [small, big]) await run(`http://127.0.0.1:${p.http}`, `https://localhost:${p.https}`).catch(() => null); // warm-up
    for (let round = 0; round < alternations; round++) {
      for (const p of round % 2 === 0 ? [small, big] : [big, small]) {
        const pid = p.pid();
        const before = cpuMicros(pid);
        const r = await run(`http://127.0.0.1:${p.http}`, `https://localhost:${p.https}`);
        const t = totals.get(p)!;
        t.cpu += cpuMicros(pid) - before;
        t.requests += r.requests;
        t.rps += r.rps / alternations;
        t.last = r;
      }
    }
    const perRequest = (p: Proxy) => totals.get(p)!.cpu / Math.max(1, totals.get(p)!.requests);
    for (const [p, label] of [
      [small, "1 rule"],
      [big, `${rules1000} rules`],
    ] as const) {
      const t = totals.get(p)!;
      rows.push({
        target: `${p.name}, ${label}`,
        "req/s": Math.round(t.rps),
        "p99 ms (last round)": t.last ? t.last.p99ms.toFixed(2) : "-",
        "CPU-µs/req": perRequest(p).toFixed(1),
        "CPU vs 1 rule": (perRequest(p) / perRequest(small)).toFixed(2),
        errors: t.last?.errors ?? 0,
      });
    }
  }
  console.log(`\n${title}, ${alternations} alternating rounds each\n${table(rows)}`);
}

function row(name: string, r: LoadResult, cpu: number | null, pid: number | null, nginx: [LoadResult, number] | null = null): Record<string, string | number> {
  return {
    target: name,
    "req/s": Math.round(r.rps),
    "p50 ms": Number.isNaN(r.p50ms) ? "-" : r.p50ms.toFixed(2),
    "p99 ms": Number.isNaN(r.p99ms) ? "-" : r.p99ms.toFixed(2),
    "CPU-µs/req": cpu === null ? "-" : cpu.toFixed(1),
    "peak RSS MiB": pid === null ? "-" : peakRssMiB(pid).toFixed(0),
    "req/s vs nginx": nginx ? (r.rps / nginx[0].rps).toFixed(2) : "-",
    "CPU vs nginx": nginx && cpu !== null ? (cpu / nginx[1]).toFixed(2) : "-",
    errors: r.errors,
  };
}

async function h2load(url: string, secs: number): Promise<LoadResult> {
  const p = Bun.spawn(["h2load", "-c", "10", "-m", "10", "-D", String(secs), "--warm-up-time=1", url], { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(p.stdout).text();
  await p.exited;
  const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1] ?? 0);
  const done = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(out);
  const mean = /time for request:\s+\S+\s+\S+\s+(\S+)/.exec(out)?.[1] ?? "";
  const meanMs = mean.endsWith("us") ? Number(mean.slice(0, -2)) / 1000 : mean.endsWith("ms") ? Number(mean.slice(0, -2)) : Number.NaN;
  return { rps, p50ms: meanMs, p99ms: Number.NaN, requests: Number(done?.[2] ?? 0), errors: Number(done?.[4] ?? 0) + Number(done?.[5] ?? 0) };
}

function startNginx(name: string, servers: string): Subprocess {
  const conf = join(dir, `${name}-nginx.conf`);
  writeFileSync(
    conf,
    `worker_processes 1;\nerror_log ${dir}/${name}-error.log;\npid ${dir}/${name}.pid;\nevents { worker_connections 4096; }\nhttp {\n  access_log off;\n  keepalive_requests 100000;\n` +
      ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `  ${t}_temp_path ${dir}/${name}-${t};\n`).join("") +
      `${servers}\n}\n`,
  );
  return Bun.spawn([NGINX, "-c", conf, "-g", "daemon off;"], { stdout: "ignore", stderr: "inherit" });
}

/** The worker of a one-worker nginx: the master's only child. */
async function nginxWorker(master: number): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const text = await Bun.file(`/proc/${master}/task/${master}/children`)
      .text()
      .catch(() => "");
    const child = Number(text.trim().split(/\s+/)[0]);
    if (child) return child;
    await Bun.sleep(20);
  }
  return master;
}

async function startSoli(name = "soli-proxy", toml = ""): Promise<Proxy> {
  const http = await freePort();
  const https = await freePort();
  const d = join(dir, `soli-${ruleCount}-${toml === "" ? "default" : "variant"}`);
  mkdirSync(join(d, "certs"), { recursive: true });
  writeFileSync(join(d, "certs", "localhost.cert.pem"), leaf.cert);
  writeFileSync(join(d, "certs", "localhost.key.pem"), leaf.key);
  writeFileSync(join(d, "certs", "self-signed.cert.pem"), leaf.cert);
  writeFileSync(join(d, "certs", "self-signed.key.pem"), leaf.key);
  const rules = Array.from({ length: ruleCount - 1 }, (_, i) => `/service${i}/* -> http://127.0.0.1:${backendPort}`);
  writeFileSync(
    join(d, "proxy.conf"),
    [...rules, `/target/* -> http://127.0.0.1:${backendPort}/`, `default -> http://127.0.0.1:${backendPort}`].join("\n") + "\n",
  );
  const admin = dashboard ? await freePort() : 0;
  const adminToml = dashboard ? `enabled = true\nbind = "127.0.0.1:${admin}"` : "enabled = false";
  writeFileSync(
    join(d, "config.toml"),
    `[server]\nbind = "127.0.0.1:${http}"\nhttps_port = ${https}\nworker_threads = 1\n[admin]\n${adminToml}\n[logging]\nlevel = "warn"\n${toml}`,
  );
  const proc = start([BUN, join(ROOT, "src/main.ts"), "-c", join(d, "proxy.conf")]);
  await Promise.all([waitPort(http), waitPort(https), ...(dashboard ? [waitPort(admin)] : [])]);
  return { name, http, https, proc, pid: () => proc.pid, admin };
}

/** The Overview's two SSE streams, read and dropped as a browser elsewhere would. */
async function openStreams(admin: number): Promise<() => Promise<void>> {
  const abort = new AbortController();
  const drains = ["/api/v1/events/metrics", "/ui/events/overview"].map(async (path) => {
    const res = await fetch(`http://127.0.0.1:${admin}${path}`, { signal: abort.signal });
    for await (const _ of res.body!) {
      // discarded
    }
  });
  return async () => {
    abort.abort();
    await Promise.allSettled(drains);
  };
}

/** The Overview page of soli-proxy's dashboard, open and live in a headless chromium. */
async function openDashboard(admin: number): Promise<() => Promise<void>> {
  const { launchBrowser } = await import("../test/dashboard/browser.ts");
  const chrome = await launchBrowser();
  const { page } = await chrome.page();
  await page.goto(`http://127.0.0.1:${admin}/`);
  await page.waitForFunction(() => document.getElementById("live")?.textContent === "live", { timeout: 10_000 });
  return async () => {
    await chrome[Symbol.asyncDispose]();
  };
}

async function startBare(): Promise<Proxy> {
  const http = await freePort();
  const https = await freePort();
  const env = { TLS_CERT: join(dir, "cert.pem"), TLS_KEY: join(dir, "key.pem") };
  const proc = start([BUN, join(ROOT, "bench/passthrough.ts"), String(http), `http://127.0.0.1:${backendPort}`, String(https)], env);
  await Promise.all([waitPort(http), waitPort(https)]);
  return { name: "bare Bun pass-through", http, https, proc, pid: () => proc.pid };
}

async function startFloor(): Promise<Proxy> {
  const http = await freePort();
  const https = await freePort();
  const env = { TLS_CERT: join(dir, "cert.pem"), TLS_KEY: join(dir, "key.pem") };
  const proc = start([BUN, join(ROOT, "bench/relay-floor.ts"), String(http), String(backendPort), String(https)], env);
  await Promise.all([waitPort(http), waitPort(https)]);
  return { name: "relay floor (no logic)", http, https, proc, pid: () => proc.pid };
}

async function startNginxProxy(): Promise<Proxy> {
  const http = await freePort();
  const https = await freePort();
  const locations = Array.from({ length: ruleCount - 1 }, (_, i) => `      location /service${i}/ { proxy_pass http://up/; }`).join("\n");
  const common = `proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; proxy_set_header X-Forwarded-For $remote_addr; proxy_set_header X-Forwarded-Proto $scheme; proxy_buffering on;`;
  const proc = startNginx(
    `proxy-${ruleCount}`,
    `    upstream up { server 127.0.0.1:${backendPort}; keepalive 64; }
    server {
      listen 127.0.0.1:${http};
      listen 127.0.0.1:${https} ssl http2;
      ssl_certificate ${dir}/cert.pem; ssl_certificate_key ${dir}/key.pem;
      ${common}
${locations}
      location /target/ { proxy_pass http://up/; }
      location / { proxy_pass http://up; }
    }`,
  );
  await Promise.all([waitPort(http), waitPort(https)]);
  const worker = await nginxWorker(proc.pid);
  return { name: "nginx", http, https, proc, pid: () => worker };
}

async function startHaproxy(): Promise<Proxy> {
  const http = await freePort();
  const https = await freePort();
  const acls = Array.from({ length: ruleCount - 1 }, (_, i) => `  use_backend up if { path_beg /service${i}/ }`).join("\n");
  const conf = join(dir, `haproxy-${ruleCount}.cfg`);
  writeFileSync(
    conf,
    `global\n  nbthread 1\n  maxconn 4000\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n  option http-keep-alive\n  option forwardfor\n` +
      `frontend fe\n  bind 127.0.0.1:${http}\n  bind 127.0.0.1:${https} ssl crt ${dir}/both.pem alpn h2,http/1.1\n${acls}\n  use_backend up if { path_beg /target/ }\n  default_backend up\n` +
      `backend up\n  http-reuse always\n  server s1 127.0.0.1:${backendPort}\n`,
  );
  const proc = Bun.spawn(["haproxy", "-f", conf], { stdout: "ignore", stderr: "inherit" });
  await Promise.all([waitPort(http), waitPort(https)]);
  return { name: "haproxy", http, https, proc, pid: () => proc.pid };
}

async function startCaddy(): Promise<Proxy> {
  const http = await freePort();
  const https = await freePort();
  const routes = Array.from({ length: ruleCount - 1 }, (_, i) => `  handle /service${i}/* {\n    reverse_proxy 127.0.0.1:${backendPort}\n  }`).join("\n");
  const conf = join(dir, `Caddyfile-${ruleCount}`);
  writeFileSync(
    conf,
    `{\n  admin off\n  auto_https off\n  http_port ${http}\n  https_port ${https}\n}\n` +
      `(routes) {\n${routes}\n  handle /target/* {\n    reverse_proxy 127.0.0.1:${backendPort}\n  }\n  handle {\n    reverse_proxy 127.0.0.1:${backendPort}\n  }\n}\n` +
      `http://127.0.0.1:${http} {\n  import routes\n}\nhttps://localhost:${https} {\n  tls ${dir}/cert.pem ${dir}/key.pem\n  import routes\n}\n`,
  );
  const proc = Bun.spawn(["caddy", "run", "--config", conf, "--adapter", "caddyfile"], {
    stdout: "ignore",
    stderr: "ignore",
    env: { ...process.env, GOMAXPROCS: "1", XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
  });
  await Promise.all([waitPort(http), waitPort(https)]);
  return { name: "caddy", http, https, proc, pid: () => proc.pid };
}

function versions(): string {
  const v = (cmd: string[], re: RegExp) => {
    try {
      const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
      return re.exec(r.stdout.toString() + r.stderr.toString())?.[1] ?? "?";
    } catch {
      return "-";
    }
  };
  return `nginx ${v([NGINX, "-v"], /nginx\/(\S+)/)}, haproxy ${v(["haproxy", "-v"], /version (\S+)/)}, caddy ${v(["caddy", "version"], /v?(\d+\.\d+\.\d+)/)}`;
}
