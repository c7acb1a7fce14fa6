/**
 * Daemon mode `-d` (SPEC §15.3), run from source: the launcher exits once the detached child is
 * ready; the child lives on in its own session, keeps run/proxy.pid and logs to run/logs/proxy.log.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isAlive, pidFilePath, readPidFile } from "../../src/runtime/pidfile.ts";
import { withoutDaemonFlag } from "../../src/cli/daemon.ts";
import { backend } from "../support/backend.ts";
import { readLogLines, tempProject, testToml, type TempProject } from "../support/project.ts";
import { runCli } from "../support/spawn.ts";
import { waitFor } from "../support/wait.ts";

/** Real processes and 100 MB executables on a shared machine: well above the 5 s default. */
const SLOW = 30_000;

const started: number[] = [];

afterEach(async () => {
  for (const pid of started.splice(0)) if (isAlive(pid)) process.kill(pid, "SIGKILL");
});

async function startDaemon(project: TempProject) {
  const r = await runCli(["-c", project.conf, "-d"], { cwd: project.dir });
  const pid = Number(/running as daemon \(PID (\d+)\)/.exec(r.stdout)?.[1]);
  if (pid) started.push(pid);
  return { ...r, pid };
}

/** The session id of a process (field 6 of /proc/<pid>/stat). */
function sessionOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3]);
}

function listeningPort(project: TempProject): number {
  const line = readLogLines(join(project.dir, "run", "logs", "proxy.log")).findLast((l) => l.msg === "soli-proxy listening");
  return Number(String(line?.http).split(":").pop());
}

describe("daemon mode (SPEC §15.3)", () => {
  test(
    "detaches into its own session, outlives the launcher, answers, and removes run/proxy.pid when stopped",
    async () => {
      using upstream = backend(() => new Response("from backend"));
      using project = tempProject({ "proxy.conf": `default -> ${upstream.url}\n`, "config.toml": testToml() });
      const launch = await startDaemon(project);
      const res = await fetch(`http://127.0.0.1:${listeningPort(project)}/`);
      expect([
        launch.code,
        launch.stdout,
        launch.stderr,
        readPidFile(join(project.dir, "run")),
        isAlive(launch.pid),
        sessionOf(launch.pid),
        res.status,
        await res.text(),
      ]).toEqual([0, `soli-proxy running as daemon (PID ${launch.pid})\n`, "", launch.pid, true, launch.pid, 200, "from backend"]);
      process.kill(launch.pid, "SIGTERM");
      await waitFor(() => !isAlive(launch.pid), "the daemon to exit");
      expect([
        existsSync(pidFilePath(join(project.dir, "run"))),
        readFileSync(join(project.dir, "run", "logs", "proxy.log"), "utf8").includes("soli-proxy stopped"),
      ]).toEqual([false, true]);
    },
    SLOW,
  );

  test(
    "a second -d stops the running daemon and takes its place",
    async () => {
      using project = tempProject({ "proxy.conf": "default -> http://127.0.0.1:9\n", "config.toml": testToml() });
      const first = await startDaemon(project);
      const second = await startDaemon(project);
      expect([first.code, second.code, second.stdout.split("\n"), isAlive(first.pid), isAlive(second.pid), readPidFile(join(project.dir, "run"))]).toEqual([
        0,
        0,
        [`Stopping existing daemon (PID: ${first.pid})...`, `soli-proxy running as daemon (PID ${second.pid})`, ""],
        false,
        true,
        second.pid,
      ]);
    },
    SLOW,
  );

  test(
    "a daemon that cannot start exits 1 and shows the end of its log",
    async () => {
      using taken = backend(() => new Response("already here"));
      const port = new URL(taken.url).port;
      using project = tempProject({
        "proxy.conf": "default -> http://127.0.0.1:9\n",
        "config.toml": testToml().replace('bind = "127.0.0.1:0"', `bind = "127.0.0.1:${port}"`),
      });
      const launch = await startDaemon(project);
      const lines = launch.stderr.split("\n");
      expect([launch.code, launch.stdout, lines[0], launch.stderr.includes(port), existsSync(pidFilePath(join(project.dir, "run")))]).toEqual([
        1,
        "",
        `Error: daemon exited (code 1) before it was ready; last lines of ${join(project.dir, "run", "logs", "proxy.log")}:`,
        true,
        false,
      ]);
    },
    SLOW,
  );

  test(
    "-d with a broken configuration refuses before stopping anything: the running daemon keeps serving",
    async () => {
      using upstream = backend(() => new Response("still serving"));
      using project = tempProject({ "proxy.conf": `default -> ${upstream.url}\n`, "config.toml": testToml() });
      const first = await startDaemon(project);
      project.write("proxy.conf", "/x -> ftp://nope\n");
      const second = await runCli(["-c", project.conf, "-d"], { cwd: project.dir });
      const res = await fetch(`http://127.0.0.1:${listeningPort(project)}/`);
      expect([second.code, second.stdout, second.stderr.split("\n"), isAlive(first.pid), readPidFile(join(project.dir, "run")), await res.text()]).toEqual([
        1,
        "",
        [
          `${project.conf}:1:7: error: unsupported scheme 'ftp:' in 'ftp://nope' (use http, https, ws, wss or redirect)`,
          `Error: the configuration has errors; the running daemon (PID ${first.pid}) is left alone`,
          "",
        ],
        true,
        first.pid,
        "still serving",
      ]);
    },
    SLOW,
  );

  test(
    "a stale run/proxy.pid naming an unrelated process is not killed",
    async () => {
      using project = tempProject({ "proxy.conf": "default -> http://127.0.0.1:9\n", "config.toml": testToml() });
      const bystander = Bun.spawn(["sleep", "30"], { stdio: ["ignore", "ignore", "ignore"] });
      try {
        project.write("run/proxy.pid", `${bystander.pid}\n`);
        const launch = await startDaemon(project);
        expect([launch.code, launch.stdout.includes("Stopping"), isAlive(bystander.pid), readPidFile(join(project.dir, "run"))]).toEqual([
          0,
          false,
          true,
          launch.pid,
        ]);
      } finally {
        bystander.kill("SIGKILL");
      }
    },
    SLOW,
  );

  test(
    "the daemon's command line is the launcher's without -d, option values untouched",
    () => {
      expect([withoutDaemonFlag(["-d", "-c", "p.conf", "dev"]), withoutDaemonFlag(["--daemon", "--sites-dir", "-d", "--watch", "false"])]).toEqual([
        ["-c", "p.conf", "dev"],
        ["--sites-dir", "-d", "--watch", "false"],
      ]);
    },
    SLOW,
  );
});
