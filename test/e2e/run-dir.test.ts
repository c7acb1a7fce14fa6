/**
 * Where run/ lives (issue 16 item 4): `--run-dir`, else `[server] run_dir` (relative to the config
 * dir), else run/ beside proxy.conf. The control socket, pid file, app state and logs all move
 * with it, and the commands that talk to a running proxy find it the same way.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ControlClient, controlSocketPath } from "../../src/control/client.ts";
import { readPidFile } from "../../src/runtime/pidfile.ts";
import { backend } from "../support/backend.ts";
import { startOnProject, tempProject, testToml } from "../support/project.ts";
import { spawnProxy } from "../support/spawn.ts";

describe("the run directory", () => {
  test("--run-dir holds the control socket and the pid file, nothing is written beside proxy.conf, and commands given the same --run-dir reach the proxy", async () => {
    using upstream = backend(() => new Response("up"));
    using project = tempProject({ "proxy.conf": `default -> ${upstream.url}\n`, "config.toml": testToml() });
    const run = mkdtempSync(join(tmpdir(), "soli-run-"));
    try {
      await using proxy = await spawnProxy(project.conf, { args: ["--watch", "false", "--run-dir", run] });
      const status = await new ControlClient(controlSocketPath(project.conf, run)).get<{ version: string }>("status");
      expect({
        pid: readPidFile(run),
        socket: existsSync(join(run, "control.sock")),
        besideConf: existsSync(join(project.dir, "run")),
        answered: typeof status.version,
      }).toEqual({
        pid: proxy.proc.pid,
        socket: true,
        besideConf: false,
        answered: "string",
      });
      expect(await proxy.stop()).toBe(0);
      expect([existsSync(join(run, "control.sock")), readPidFile(run)]).toEqual([false, null]);
    } finally {
      rmSync(run, { recursive: true, force: true });
    }
  }, 30_000);

  test("[server] run_dir in config.toml is relative to the config dir and found by the commands without any flag", async () => {
    using upstream = backend(() => new Response("up"));
    using project = tempProject({ "proxy.conf": `default -> ${upstream.url}\n`, "config.toml": testToml("", 'run_dir = "state/run"') });
    await using proxy = await startOnProject(project);
    const socket = controlSocketPath(project.conf);
    expect({
      socket,
      handle: proxy.handle.controlSocket,
      running: await new ControlClient(socket).running(),
      pid: readPidFile(join(project.dir, "state", "run")),
      besideConf: existsSync(join(project.dir, "run")),
    }).toEqual({
      socket: join(project.dir, "state", "run", "control.sock"),
      handle: join(project.dir, "state", "run", "control.sock"),
      running: true,
      pid: process.pid,
      besideConf: false,
    });
  }, 30_000);
});
