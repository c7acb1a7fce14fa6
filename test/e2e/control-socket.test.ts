import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ControlClient, ControlError, ControlUnavailable, controlSocketPath } from "../../src/control/client.ts";
import { tempProject, testToml } from "../support/project.ts";
import { runCli, spawnProxy } from "../support/spawn.ts";

describe("control socket (SPEC §15.2)", () => {
  test("run/ is 0700, control.sock 0600 and proxy.pid holds the pid; the admin API answers there without credentials though admin.bind is off", async () => {
    using project = tempProject({
      "proxy.conf": "default -> http://127.0.0.1:9\n",
      "config.toml": testToml().replace("enabled = false", 'enabled = false\napi_key = "k"'),
    });
    const proxy = await spawnProxy(project.conf);
    const run = join(project.dir, "run");
    const control = new ControlClient(controlSocketPath(project.conf));
    try {
      const status = await control.get<{ config_version: number; admin_bind: string | null }>("status");
      const added = await control.post<{ index: number }>("routes", { matcher: { type: "exact", value: "/x" }, targets: [{ url: "http://127.0.0.1:9" }] });
      expect([
        statSync(run).mode & 0o777,
        statSync(join(run, "control.sock")).mode & 0o777,
        readFileSync(join(run, "proxy.pid"), "utf8").trim(),
        status.config_version,
        status.admin_bind,
        added.index,
      ]).toEqual([0o700, 0o600, String(proxy.proc.pid), 1, null, 1]);
    } finally {
      expect(await proxy.stop("SIGTERM")).toBe(0);
    }
    expect([existsSync(join(run, "control.sock")), existsSync(join(run, "proxy.pid"))]).toEqual([false, false]);
  });

  test("a second proxy on the same run/ refuses to start with exit 1", async () => {
    using project = tempProject({ "proxy.conf": "default -> http://127.0.0.1:9\n", "config.toml": testToml() });
    await using first = await spawnProxy(project.conf);
    const second = await runCli(["-c", project.conf]);
    expect([second.code, second.stderr.trim(), await new ControlClient(controlSocketPath(project.conf)).running(), first.proc.exitCode]).toEqual([
      1,
      "Error: another soli-proxy is running (run/control.sock)",
      true,
      null,
    ]);
  });

  test("a stale socket left by a killed proxy is removed at start-up", async () => {
    using project = tempProject({ "proxy.conf": "default -> http://127.0.0.1:9\n", "config.toml": testToml() });
    const socket = controlSocketPath(project.conf);
    const killed = await spawnProxy(project.conf);
    await killed.stop("SIGKILL");
    const left = existsSync(socket);
    await using again = await spawnProxy(project.conf);
    const status = await new ControlClient(socket).get<{ config_version: number }>("status");
    expect([left, status.config_version, readFileSync(join(project.dir, "run", "proxy.pid"), "utf8").trim()]).toEqual([true, 1, String(again.proc.pid)]);
  });

  test("the control client tells 'no proxy here' from an error the proxy answered", async () => {
    using project = tempProject({ "proxy.conf": "default -> http://127.0.0.1:9\n", "config.toml": testToml() });
    const control = new ControlClient(controlSocketPath(project.conf));
    const missing = await control.get("status").catch((err) => err);
    await using proxy = await spawnProxy(project.conf);
    const refused: ControlError = await control.get("routes/9").then(
      () => {
        throw new Error("expected an error");
      },
      (err) => err,
    );
    expect([
      missing instanceof ControlUnavailable,
      await control.running(),
      refused instanceof ControlError,
      refused.status,
      refused.message,
      proxy.proc.exitCode,
    ]).toEqual([true, true, true, 404, "Route index 9 not found", null]);
  });
});
