/**
 * Hitless upgrade (SPEC §15.5) and adoption of running apps (SPEC §14.7), with real proxy
 * processes (`bun src/main.ts`), a real managed app, real signals and real load.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readAppState } from "../../src/apps/state-files.ts";
import { ControlClient, controlSocketPath } from "../../src/control/client.ts";
import { isAlive, readPidFile } from "../../src/runtime/pidfile.ts";
import { assertBunUsableByNobody, defaultInfos, FAST, freePortBlock, openUp, startAppsProxy, writeApp } from "../support/apps.ts";
import { startOnProject, tempProject, testToml, type TempProject } from "../support/project.ts";
import { runCli, spawnProxy, type SpawnedProxy } from "../support/spawn.ts";
import { waitFor } from "../support/wait.ts";

const SLOW = 60_000;
const APP = "up.test";
const APPS_TOML = `[apps]\ndefault_user = "nobody"\nhealth_check_interval_secs = 1\n`;

/** Processes a test started and must not leave behind: new primaries are not our children. */
const leftovers = new Set<number>();
afterEach(async () => {
  for (const pid of leftovers) {
    try {
      process.kill(pid, "SIGTERM"); // SPEC §15.4: it stops its apps too
    } catch {}
  }
  await waitFor(() => [...leftovers].every((pid) => !isAlive(pid)), "test processes to exit", 15_000);
  leftovers.clear();
});

/** A project with one managed app; `toml` replaces the test config.toml. */
function appProject(toml = testToml(APPS_TOML)): TempProject {
  assertBunUsableByNobody();
  const project = tempProject({ "proxy.conf": "# no rules\n", "config.toml": toml });
  mkdirSync(join(project.dir, "sites"), { recursive: true });
  openUp(project);
  writeApp(project, APP);
  return project;
}

const runDir = (project: TempProject) => join(project.dir, "run");
const appPid = (project: TempProject) => readAppState(join(runDir(project), "app_state.json"))[APP]?.blue.pid ?? null;

/** Starts the proxy as a process and waits until the app serves through it. */
async function started(project: TempProject, args: string[] = []): Promise<SpawnedProxy> {
  const proxy = await spawnProxy(project.conf, { args: ["--watch", "false", ...args] });
  leftovers.add(proxy.proc.pid);
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${proxy.http}/`, { headers: { host: APP } })).status === 200,
    "the app to serve through the proxy",
    15_000,
    50,
  );
  const app = appPid(project);
  if (app) leftovers.add(app); // stopped by the last primary's SIGTERM, unless a test failed half-way
  return proxy;
}

/**
 * `clients` loops of GETs through the proxy until stopped (at most `max` each, 60 s): every
 * answer but a 200 from the app, and every transport error, is a failure.
 */
/**
 * Linux ≥ 5.14 with net.ipv4.tcp_migrate_req=1 moves connections queued on a closing SO_REUSEPORT
 * listener to a live one; without it the kernel resets them (README "Upgrading"), which no proxy
 * on Bun can prevent: Bun.serve cannot take over the old listening socket (oven-sh/bun#22559).
 */
const KERNEL_MIGRATES = (() => {
  try {
    return readFileSync("/proc/sys/net/ipv4/tcp_migrate_req", "utf8").trim() === "1";
  } catch {
    return false;
  }
})();

/** The failures the proxy answers for: all of them, or all but the kernel's resets described above. */
function proxyFailures(failures: string[]): string[] {
  return KERNEL_MIGRATES ? failures : failures.filter((f) => !f.startsWith("ECONNRESET"));
}

function load(port: number, clients = 4, max = 20_000) {
  let stop = false;
  let served = 0;
  const failures: string[] = [];
  const deadline = Date.now() + 60_000;
  const loop = async () => {
    for (let i = 0; i < max && !stop && Date.now() < deadline; i++) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { host: APP } });
        const body = await res.text();
        if (res.status === 200 && body.includes('"port"')) served++;
        else failures.push(`${res.status} ${body.slice(0, 80)}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  };
  const loops = Promise.all(Array.from({ length: clients }, loop));
  return {
    served: () => served,
    async finish() {
      stop = true;
      await loops;
      return { served, failures };
    },
  };
}

describe("hitless upgrade (SPEC §15.5)", () => {
  test(
    "SIGUSR2 under load: no request fails, the old primary exits 0, the pid file names the new one, and the app keeps its pid and keeps serving",
    async () => {
      using project = appProject();
      await using proxy = await started(project);
      const oldPid = proxy.proc.pid;
      const app = appPid(project);
      const traffic = load(proxy.http);
      await waitFor(() => traffic.served() >= 200, "traffic before the upgrade", 10_000);

      proxy.proc.kill("SIGUSR2");
      const exitCode = await proxy.proc.exited;
      const newPid = readPidFile(runDir(project))!;
      leftovers.add(newPid);
      const servedAtExit = traffic.served();
      await waitFor(() => traffic.served() >= servedAtExit + 200, "traffic served by the new primary", 10_000);
      const { served, failures } = await traffic.finish();

      const answer = (await (await fetch(`http://127.0.0.1:${proxy.http}/`, { headers: { host: APP } })).json()) as { pid: number };
      expect({
        exitCode,
        failures: proxyFailures(failures),
        newPrimary: newPid !== oldPid && isAlive(newPid),
        appPid: appPid(project),
        answeredBy: answer.pid,
        served: served > 400,
      }).toEqual({
        exitCode: 0,
        failures: [],
        newPrimary: true,
        appPid: app,
        answeredBy: app!,
        served: true,
      });
      expect(proxy.output()).toContain(`"msg":"adopted ${APP} slot blue (PID ${app}) still running from an earlier soli-proxy"`);
    },
    SLOW,
  );

  test(
    "with worker processes, POST /api/v1/upgrade on the control socket hands over under load and answers with the new primary",
    async () => {
      const port = freePortBlock(2);
      using project = appProject(
        `[server]\nbind = "127.0.0.1:${port}"\nhttps_port = ${port + 1}\nworker_threads = 2\nshutdown_grace_period = 1\n\n[admin]\nenabled = false\n\n${APPS_TOML}`,
      );
      await using proxy = await started(project);
      const app = appPid(project);
      const traffic = load(proxy.http);
      await waitFor(() => traffic.served() >= 200, "traffic before the upgrade", 10_000);

      const next = await new ControlClient(controlSocketPath(project.conf)).post<{ pid: number; version: string }>("upgrade", undefined, { timeoutMs: 40_000 });
      leftovers.add(next.pid);
      const exitCode = await proxy.proc.exited;
      const servedAtExit = traffic.served();
      await waitFor(() => traffic.served() >= servedAtExit + 200, "traffic served by the new workers", 10_000);
      const { failures } = await traffic.finish();
      const status = await new ControlClient(controlSocketPath(project.conf)).get<{ version: string }>("status");
      expect({
        exitCode,
        failures: proxyFailures(failures),
        pidFile: readPidFile(runDir(project)),
        appPid: appPid(project),
        workers: (await workerPids(next.pid)).length,
      }).toEqual({
        exitCode: 0,
        failures: [],
        pidFile: next.pid,
        appPid: app,
        workers: 2,
      });
      expect(status.version).toBe(next.version);
    },
    SLOW,
  );

  test(
    "a configuration that is invalid on disk at SIGUSR2 leaves the old proxy serving and logs why",
    async () => {
      using project = appProject();
      await using proxy = await started(project);
      const pid = proxy.proc.pid;
      writeFileSync(project.conf, "example.com -> notaurl\n");

      proxy.proc.kill("SIGUSR2");
      const failed = await waitFor(
        () =>
          proxy
            .output()
            .split("\n")
            .find((line) => line.includes("upgrade failed")),
        "the upgrade failure in the log",
        20_000,
      );
      const res = await fetch(`http://127.0.0.1:${proxy.http}/`, { headers: { host: APP } });
      expect({
        status: res.status,
        running: proxy.proc.exitCode === null,
        pidFile: readPidFile(runDir(project)),
        control: await new ControlClient(controlSocketPath(project.conf)).running(),
      }).toEqual({
        status: 200,
        running: true,
        pidFile: pid,
        control: true,
      });
      expect(JSON.parse(failed).err).toMatch(/^configuration is invalid: .*proxy\.conf:1:/);
    },
    SLOW,
  );
});

describe("listeners bound for upgrades", () => {
  test(
    "a cold start on a port someone else listens on with SO_REUSEPORT (another proxy) still fails with exit 1",
    async () => {
      const other = Bun.serve({ port: 0, hostname: "127.0.0.1", reusePort: true, fetch: () => new Response("other") });
      try {
        using project = tempProject({
          "proxy.conf": "default -> http://127.0.0.1:9\n",
          "config.toml": testToml().replace('bind = "127.0.0.1:0"', `bind = "127.0.0.1:${other.port}"`),
        });
        const r = await runCli(["-c", project.conf, "--sites-dir", join(project.dir, "sites"), "--watch", "false"]);
        expect([r.code, r.stderr.trim()]).toEqual([1, expect.stringContaining(`Error: cannot listen: 127.0.0.1:${other.port} is already in use`)]);
      } finally {
        other.stop(true);
      }
    },
    SLOW,
  );
});

describe("adoption at start-up (SPEC §14.7)", () => {
  test(
    "after a SIGKILL of the proxy, the next one adopts the running app (same pid) instead of restarting it",
    async () => {
      using project = appProject();
      const first = await started(project);
      const app = appPid(project);
      first.proc.kill("SIGKILL");
      await first.proc.exited;
      const alive = isAlive(app!);

      await using second = await started(project);
      const answer = (await (await fetch(`http://127.0.0.1:${second.http}/`, { headers: { host: APP } })).json()) as { pid: number };
      expect({ alive, appPid: appPid(project), answeredBy: answer.pid }).toEqual({ alive: true, appPid: app, answeredBy: app! });
      expect(second.output()).toContain(`adopted ${APP} slot blue (PID ${app})`);
      // SPEC §15.4: SIGTERM still stops everything, the adopted app included
      expect(await second.stop("SIGTERM")).toBe(0);
      expect(isAlive(app!)).toBe(false);
    },
    SLOW,
  );

  test(
    "a recorded pid that now belongs to another program is neither adopted nor signalled; the app starts afresh",
    async () => {
      // another program in a session of its own, as a slot process would be
      const other = Bun.spawn(["sleep", "300"], { detached: true, stdin: "ignore", stdout: "ignore", stderr: "ignore" });
      leftovers.add(other.pid);
      const recordFor = (pid: number) => ({
        [APP]: { current_slot: "blue", stopped: false, blue: { port: 1, pid, status: "Running" }, green: { port: 2, pid: null, status: "Stopped" } },
      });
      await using proxy = await startAppsProxy({
        apps: { [APP]: { infos: defaultInfos() } },
        before: (project) => {
          mkdirSync(join(project.dir, "run"), { recursive: true });
          writeFileSync(join(project.dir, "run", "app_state.json"), JSON.stringify(recordFor(other.pid)));
        },
      });
      const res = await proxy.get(APP);
      const answer = (await res.json()) as { pid: number };
      const warning = proxy.logs().find((l) => String(l.msg).includes(`recorded PID ${other.pid} now runs 'sleep 300'`));
      expect({ status: res.status, otherAlive: isAlive(other.pid), fresh: answer.pid !== other.pid, warned: warning?.msg }).toEqual({
        status: 200,
        otherAlive: true,
        fresh: true,
        warned: `${APP} slot blue: recorded PID ${other.pid} now runs 'sleep 300', not the app's command 'bun server.ts'; not adopted and not signalled`,
      });
    },
    SLOW,
  );

  test(
    "a recorded app process that is ours but does not answer its health check is stopped and the app started again",
    async () => {
      using project = appProject();
      const first = await started(project);
      const app = appPid(project)!;
      // make it deaf: alive, still its command, no longer listening
      const port = readAppState(join(runDir(project), "app_state.json"))[APP]!.blue.port;
      await fetch(`http://127.0.0.1:${port}/__control/close`);
      first.proc.kill("SIGKILL");
      await first.proc.exited;

      const second = await startOnProject(project, { sitesDir: join(project.dir, "sites"), appTimings: FAST });
      await second.handle.appsStarted;
      const now = appPid(project);
      const stopped = second.logs().some((l) => String(l.msg).startsWith(`stopping ${APP} slot blue left from an earlier run`));
      await second.handle.shutdown();
      expect({ oldAlive: isAlive(app), restarted: now !== null && now !== app, stopped }).toEqual({ oldAlive: false, restarted: true, stopped: true });
    },
    SLOW,
  );
});

/** The worker processes of a primary: its children (SPEC §15.1), found by their parent pid in /proc. */
async function workerPids(primary: number): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === primary) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
