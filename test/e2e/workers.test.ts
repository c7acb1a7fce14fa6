/**
 * Worker processes (SPEC §15.1, §15.4) with worker_threads = 2, the proxy spawned as a real
 * process. Which process served a request is read from its endpoint log line: every line a worker
 * writes carries `worker: <index>`, and each worker logs its pid once in "worker listening".
 */
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ControlClient, controlSocketPath } from "../../src/control/client.ts";
import { isAlive } from "../../src/runtime/pidfile.ts";
import { backend } from "../support/backend.ts";
import { curlTrusting, freePort, startPebble } from "../support/pebble.ts";
import { startTestProxy, tempProject, type TempProject } from "../support/project.ts";
import { spawnProxy, type SpawnedProxy } from "../support/spawn.ts";
import { waitFor } from "../support/wait.ts";

/** Three real processes per proxy on a shared 2-core machine. */
const SLOW = 30_000;

function workerToml(extra = "", server = ""): string {
  return `[server]\nbind = "127.0.0.1:0"\nhttps_port = 0\nworker_threads = 2\nshutdown_grace_period = 2\n${server}\n\n[admin]\nenabled = false\n\n[logging]\nlog_endpoints = true\n\n${extra}`;
}

type Line = Record<string, unknown>;

function lines(proxy: SpawnedProxy): Line[] {
  return proxy
    .output()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Line);
}

/** worker index → pid, from the "worker listening" lines (the latest per index). */
function workerPids(proxy: SpawnedProxy): Map<number, number> {
  const pids = new Map<number, number>();
  for (const l of lines(proxy)) if (l.msg === "worker listening") pids.set(l.worker as number, l.pid as number);
  return pids;
}

function endpointLines(proxy: SpawnedProxy, path?: string): Line[] {
  return lines(proxy).filter((l) => l.msg === "endpoint request" && (path === undefined || l.path === path));
}

/** A request on a new connection, so the kernel picks a worker for each one. */
function fresh(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, keepalive: false, headers: { connection: "close", ...(init.headers as Record<string, string>) } });
}

/** Parent pid of a process (field 4 of /proc/<pid>/stat). */
function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

function sample(text: string, series: string): number | null {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? null : Number(line.slice(series.length + 1));
}

const leftovers: number[] = [];
afterEach(() => {
  for (const pid of leftovers.splice(0)) if (isAlive(pid)) process.kill(pid, "SIGKILL");
});

async function start(project: TempProject): Promise<SpawnedProxy> {
  const proxy = await spawnProxy(project.conf);
  const pids = await waitFor(() => (workerPids(proxy).size === 2 ? workerPids(proxy) : null), "both workers listening");
  leftovers.push(...pids.values());
  return proxy;
}

describe("worker processes (SPEC §15.1)", () => {
  test(
    "requests are served by both worker pids, children of the primary, on the ports the one listening line reports",
    async () => {
      using site = backend(() => new Response("site"));
      using project = tempProject({ "proxy.conf": `default -> ${site.url}\n`, "config.toml": workerToml() });
      await using proxy = await start(project);
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) statuses.push((await fresh(`http://127.0.0.1:${proxy.http}/`)).status);
      const served = await waitFor(() => (endpointLines(proxy, "/").length === 30 ? endpointLines(proxy, "/") : null), "30 endpoint lines");

      const pids = workerPids(proxy);
      const listening = lines(proxy).filter((l) => l.msg === "soli-proxy listening");
      const workerPorts = lines(proxy)
        .filter((l) => l.msg === "worker listening")
        .map((l) => [l.http, l.https]);
      expect({
        statuses: [...new Set(statuses)],
        servedBy: [...new Set(served.map((l) => l.worker))].sort(),
        pids: [...pids.values()].map((pid) => [pid !== proxy.proc.pid, parentOf(pid) === proxy.proc.pid]),
        distinctPids: new Set(pids.values()).size,
        listeningLines: listening.length,
        workersField: listening[0]?.workers,
        workerPorts,
      }).toEqual({
        statuses: [200],
        servedBy: [0, 1],
        pids: [
          [true, true],
          [true, true],
        ],
        distinctPids: 2,
        listeningLines: 1,
        workersField: 2,
        workerPorts: [
          [proxy.http, proxy.https],
          [proxy.http, proxy.https],
        ],
      });
    },
    SLOW,
  );

  test(
    "a killed worker loses at most its in-flight request, is back with a new pid within 5 s, and a second quick death doubles the delay",
    async () => {
      using site = backend(() => new Response("site"));
      using project = tempProject({ "proxy.conf": `default -> ${site.url}\n`, "config.toml": workerToml() });
      await using proxy = await start(project);
      const victim = workerPids(proxy).get(0)!;
      const failures: string[] = [];
      let ok = 0;
      const request = async () => {
        try {
          const res = await fresh(`http://127.0.0.1:${proxy.http}/`);
          if (res.status === 200) ok++;
          else failures.push(`status ${res.status}`);
          await res.arrayBuffer();
        } catch (err) {
          failures.push((err as Error).message);
        }
      };
      for (let i = 0; i < 10; i++) await request();
      const killedAt = Date.now();
      process.kill(victim, "SIGKILL");
      // Requests keep going, one at a time, until worker 0 is back and has served one of them.
      const back = () => {
        const pid = workerPids(proxy).get(0);
        return pid !== undefined && pid !== victim && endpointLines(proxy, "/").some((l) => l.worker === 0 && Date.parse(l.time as string) > killedAt);
      };
      const deadline = Date.now() + 10_000;
      while (!back() && Date.now() < deadline) await request();
      const backAfterMs = Date.now() - killedAt;
      const reborn = workerPids(proxy).get(0)!;
      leftovers.push(reborn);

      process.kill(reborn, "SIGKILL");
      await waitFor(() => proxy.output().includes(`worker 0 (pid ${reborn}) killed by signal SIGKILL; restarting in 2 s`), "the doubled restart delay", 5000);
      expect({
        failures: failures.length <= 1 ? "at most one" : failures,
        servedMeanwhile: ok > 10,
        back: back(),
        newPid: reborn !== victim && isAlive(reborn) === false,
        within5s: backAfterMs < 5000 ? true : backAfterMs,
        logged: proxy.output().includes(`worker 0 (pid ${victim}) killed by signal SIGKILL; restarting in 1 s`),
      }).toEqual({ failures: "at most one", servedMeanwhile: true, back: true, newPid: true, within5s: true, logged: true });
    },
    SLOW,
  );

  test(
    "a reload reaches both workers before the admin answers, and metrics on the proxy listener and the admin API are the sum over workers",
    async () => {
      using before = backend(() => new Response("before"));
      using after = backend(() => new Response("after"));
      using project = tempProject({ "proxy.conf": `default -> ${before.url}\n`, "config.toml": workerToml() });
      await using proxy = await start(project);
      const control = new ControlClient(controlSocketPath(project.conf));

      project.write("proxy.conf", `default -> ${after.url}\n`);
      const reload = await control.request("POST", "reload");
      const bodies: string[] = [];
      for (let i = 0; i < 30; i++) bodies.push(await (await fresh(`http://127.0.0.1:${proxy.http}/`)).text());
      const served = await waitFor(() => (endpointLines(proxy, "/").length === 30 ? endpointLines(proxy, "/") : null), "30 endpoint lines");

      const series = `proxy_upstream_requests_total{upstream="${after.url}",code="200"}`;
      const page = await waitFor(
        async () => {
          const text = await (await fresh(`http://127.0.0.1:${proxy.http}/metrics`)).text();
          return sample(text, series) === 30 ? text : null;
        },
        "the summed upstream counter on the proxy listener",
        5000,
        200,
      );
      const admin = await waitFor(
        async () => {
          const text = String((await control.request("GET", "metrics")).body);
          // In-flight is a gauge from the last reports: the /metrics requests above count until the next one (≤ 1 s).
          return sample(text, series) === 30 && sample(text, "proxy_requests_in_flight") === 0 ? text : null;
        },
        "the summed upstream counter on the admin API",
        5000,
        200,
      );

      expect({
        reload: [reload.status, (reload.body as { data: { version: number } }).data.version],
        bodies: [...new Set(bodies)],
        upstreams: [...new Set(served.map((l) => l.upstream))],
        servedBy: [...new Set(served.map((l) => l.worker))].sort(),
        // Both workers' shares are in the one number.
        perWorker: [0, 1].map((w) => served.filter((l) => l.worker === w).length > 0),
        pageReloads: sample(page, 'proxy_config_reloads_total{result="success"}'),
        adminUpstream: sample(admin, series),
        adminInFlight: sample(admin, "proxy_requests_in_flight"),
        adminStatus200: (sample(admin, 'proxy_response_status_codes_total{code="200"}') ?? 0) >= 30,
      }).toEqual({
        reload: [200, 2],
        bodies: ["after"],
        upstreams: [after.url],
        servedBy: [0, 1],
        perWorker: [true, true],
        pageReloads: 1,
        adminUpstream: 30,
        adminInFlight: 0,
        adminStatus200: true,
      });
    },
    SLOW,
  );

  test(
    "the circuit-breaker view merges the workers, and a reset reaches every worker",
    async () => {
      const dead = `http://127.0.0.1:${await freePort()}`;
      using project = tempProject({
        "proxy.conf": `default -> ${dead}\n`,
        "config.toml": workerToml("[circuit_breaker]\nfailure_threshold = 2\nrecovery_timeout_secs = 60\n"),
      });
      await using proxy = await start(project);
      const control = new ControlClient(controlSocketPath(project.conf));
      const perWorker = (since: number, w: number) =>
        endpointLines(proxy, "/")
          .slice(since)
          .filter((l) => l.worker === w);
      // Until each worker has seen two failures: both breakers are open.
      for (let i = 0; i < 100 && (perWorker(0, 0).length < 2 || perWorker(0, 1).length < 2); i++) {
        await fresh(`http://127.0.0.1:${proxy.http}/`);
        await waitFor(() => endpointLines(proxy, "/").length === i + 1, "the endpoint line");
      }
      const merged = await waitFor(
        async () => {
          const body = (await control.request("GET", "circuit-breaker")).body as {
            data: Record<string, { state: string; consecutive_failures: number; consecutive_successes: number }>;
          };
          return body.data[dead]?.state === "open" ? body.data : null;
        },
        "the merged open breaker",
        5000,
        100,
      );

      const reset = await control.request("POST", "circuit-breaker/reset");
      const afterReset = ((await control.request("GET", "circuit-breaker")).body as { data: unknown }).data;
      const since = endpointLines(proxy, "/").length;
      // After the reset, each worker's first request reaches the dead upstream (502) instead of its open breaker (503).
      for (let i = 0; i < 100 && (perWorker(since, 0).length < 1 || perWorker(since, 1).length < 1); i++) {
        await fresh(`http://127.0.0.1:${proxy.http}/`);
        await waitFor(() => endpointLines(proxy, "/").length === since + i + 1, "the endpoint line");
      }
      expect({
        merged: merged[dead],
        reset: reset.status,
        afterReset,
        firstAfterReset: [0, 1].map((w) => perWorker(since, w)[0]?.status),
      }).toEqual({
        merged: { state: "open", consecutive_failures: 2, consecutive_successes: 0 },
        reset: 200,
        afterReset: {},
        firstAfterReset: [502, 502],
      });
    },
    SLOW,
  );

  test(
    "SIGTERM drains the workers (an in-flight request completes), exits 0 and leaves no process behind",
    async () => {
      // The backend answers only once both workers are draining: the request is in flight through one.
      const draining = Promise.withResolvers<void>();
      using slow = backend(async () => {
        await draining.promise;
        return new Response("slow but complete");
      });
      using project = tempProject({ "proxy.conf": `default -> ${slow.url}\n`, "config.toml": workerToml() });
      await using proxy = await start(project);
      const pids = [...workerPids(proxy).values()];
      const inFlight = fresh(`http://127.0.0.1:${proxy.http}/`).then(async (r) => [r.status, await r.text()]);
      await waitFor(() => slow.seen.length === 1, "the request at the backend");
      const exited = proxy.stop("SIGTERM");
      const drainLines = () => lines(proxy).filter((l) => l.msg === "Received shutdown signal, draining connections..." && l.worker !== undefined);
      await waitFor(() => drainLines().length === 2, "both workers to drain");
      draining.resolve();
      const code = await exited;
      expect({ code, inFlight: await inFlight, alive: pids.map(isAlive), drained: lines(proxy).filter((l) => l.msg === "worker stopped").length }).toEqual({
        code: 0,
        inFlight: [200, "slow but complete"],
        alive: [false, false],
        drained: 2,
      });
    },
    SLOW,
  );

  test(
    "workers exit on their own when the primary is killed",
    async () => {
      using project = tempProject({ "proxy.conf": `default -> http://127.0.0.1:9\n`, "config.toml": workerToml() });
      await using proxy = await start(project);
      const pids = [...workerPids(proxy).values()];
      proxy.proc.kill("SIGKILL");
      await proxy.proc.exited;
      await waitFor(() => pids.every((pid) => !isAlive(pid)), "the orphaned workers to exit", 5000, 50);
      expect(pids.map(isAlive)).toEqual([false, false]);
    },
    SLOW,
  );

  test(
    "start-up fails with exit 1 and the reason when the workers cannot bind the port",
    async () => {
      const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
      using project = tempProject({
        "proxy.conf": `default -> http://127.0.0.1:9\n`,
        "config.toml": workerToml("", "").replace('bind = "127.0.0.1:0"', `bind = "127.0.0.1:${taken.port}"`),
      });
      try {
        const err = await spawnProxy(project.conf).then(
          () => "started",
          (e: Error) => e.message,
        );
        expect([
          err.includes("proxy did not start (exit 1)"),
          err.includes(`Error: cannot listen: worker 0: cannot listen on 127.0.0.1:${taken.port}`),
        ]).toEqual([true, true]);
      } finally {
        taken.stop(true);
      }
    },
    SLOW,
  );
});

describe("ACME tokens reach every worker (SPEC §12.6, §15.1)", () => {
  test(
    "once publish resolves every worker answers the token, and once withdrawn none does",
    async () => {
      const server = 'bind = "127.0.0.1:0"\nhttps_port = 0\nworker_threads = 2\nshutdown_grace_period = 1';
      await using proxy = await startTestProxy("default -> http://127.0.0.1:9\n", {
        rawToml: `[server]\n${server}\n[admin]\nenabled = false\n[logging]\noutput = "file:proxy.log"\n`,
      });
      const challenges = proxy.handle.challenges;
      await challenges.publish("tok-123", "tok-123.thumbprint");
      const url = `${proxy.url}/.well-known/acme-challenge/tok-123`;
      const published = await Promise.all(Array.from({ length: 16 }, () => fresh(url).then(async (r) => `${r.status} ${await r.text()}`)));
      await challenges.withdraw("tok-123");
      const withdrawn = await Promise.all(Array.from({ length: 16 }, () => fresh(url).then((r) => r.status)));
      expect({
        pids: proxy.handle.workers?.pids().filter((p) => p > 0).length,
        published: [...new Set(published)],
        withdrawn: [...new Set(withdrawn)],
      }).toEqual({
        pids: 2,
        published: ["200 tok-123.thumbprint"],
        withdrawn: [404],
      });
    },
    SLOW,
  );

  test(
    "Pebble validates HTTP-01 through the worker processes and the certificate reaches them",
    async () => {
      using site = backend(() => new Response("hello from shop"));
      using project = tempProject();
      const httpPort = await freePort();
      await using pebble = await startPebble(project.dir, httpPort);
      project.write("proxy.conf", `shop.example.com -> ${site.url}\n`);
      project.write(
        "config.toml",
        workerToml(
          `[tls]\nmode = "letsencrypt"\n[letsencrypt]\nemail = "ops@example.com"\nterms_agreed = true\ndirectory_url = "${pebble.directory}"\n`,
        ).replace('bind = "127.0.0.1:0"', `bind = "127.0.0.1:${httpPort}"`),
      );
      const proxy = await spawnProxy(project.conf, { env: { NODE_EXTRA_CA_CERTS: pebble.apiCaFile } });
      await using _ = proxy;
      leftovers.push(...(await waitFor(() => (workerPids(proxy).size === 2 ? [...workerPids(proxy).values()] : null), "both workers")));
      await waitFor(() => proxy.output().includes("certificate for shop.example.com issued"), "the issued certificate", 20_000, 100).catch((err) => {
        throw new Error(`${(err as Error).message}\nproxy:\n${proxy.output()}\npebble:\n${pebble.output()}`);
      });
      project.write("pebble-root.pem", await pebble.rootPem());
      // Each curl is a new connection: both workers must present the new certificate.
      const issuers = await waitFor(
        async () => {
          const seen: string[] = [];
          for (let i = 0; i < 8; i++) {
            const { code, body } = await curlTrusting(join(project.dir, "pebble-root.pem"), "shop.example.com", proxy.https);
            seen.push(`${code} ${body}`);
          }
          return seen.every((s) => s === "0 hello from shop") ? seen : null;
        },
        "the certificate on every worker",
        5000,
        200,
      );
      expect([...new Set(issuers)]).toEqual(["0 hello from shop"]);
    },
    SLOW,
  );
});
