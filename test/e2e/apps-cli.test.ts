import { describe, expect, test } from "bun:test";
import { appendFileSync, chmodSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { processAlive } from "../../src/apps/process.ts";
import { assertBunUsableByNobody, defaultInfos, openUp, writeApp } from "../support/apps.ts";
import { tempProject, testToml, type TempProject } from "../support/project.ts";
import { MAIN, runCli } from "../support/spawn.ts";
import { waitFor } from "../support/wait.ts";

const FAKE_DOCKER = join(import.meta.dir, "..", "fixtures", "fake-docker.ts");

function project(): TempProject {
  assertBunUsableByNobody();
  const p = tempProject({ "proxy.conf": "# no rules\n", "config.toml": testToml('[apps]\ndefault_user = "nobody"\n') });
  mkdirSync(join(p.dir, "sites"));
  openUp(p);
  return p;
}

const cli = (p: TempProject, args: string[], env: Record<string, string> = {}) =>
  runCli([...args, "-c", p.conf, "--sites-dir", join(p.dir, "sites")], { cwd: p.dir, env });
/** The stand-in `docker` (no Docker engine here): first on PATH, recording its calls under `fake`. */
function standInDocker(p: TempProject): { fake: string; env: Record<string, string> } {
  const fake = join(p.dir, "fake-docker");
  mkdirSync(join(fake, "bin"), { recursive: true });
  writeFileSync(join(fake, "bin", "docker"), `#!/bin/sh\nexec "${process.execPath}" "${FAKE_DOCKER}" "$@"\n`);
  chmodSync(join(fake, "bin", "docker"), 0o755);
  return { fake, env: { PATH: `${join(fake, "bin")}:${process.env.PATH}`, FAKE_DOCKER_DIR: fake } };
}

const appState = (p: TempProject) => JSON.parse(readFileSync(join(p.dir, "run", "app_state.json"), "utf8"));

/** Kills whatever app_state.json says still runs (the CLI leaves apps running on purpose). */
function cleanup(p: TempProject): void {
  try {
    for (const app of Object.values(appState(p)) as { blue: { pid: number | null }; green: { pid: number | null } }[]) {
      for (const pid of [app.blue.pid, app.green.pid])
        if (pid)
          try {
            process.kill(-pid, "SIGKILL");
          } catch {}
    }
  } catch {}
  p.remove();
}

describe("deploy, restart, stop, logs without a running proxy (SPEC §16.1)", () => {
  test("deploy, restart, logs and stop act standalone on run/, and the app keeps running after the command exits", async () => {
    const p = project();
    try {
      writeApp(p, "cli.example.com", { behaviour: { version: "v1" } });
      const deploy = await cli(p, ["deploy", "cli.example.com"]);
      const afterDeploy = appState(p)["cli.example.com"];
      const greenPort = afterDeploy.green.port;
      const serving = (await (await fetch(`http://127.0.0.1:${greenPort}/`)).json()) as { version: string; pid: number };
      const progress = deploy.stdout.trimEnd().split("\n");
      const probes = progress.filter((l) => l.includes(": health check "));
      expect({
        code: deploy.code,
        first: progress[0],
        last: progress.at(-1),
        attempts: probes.every((l, i) => l.startsWith(`  cli.example.com: health check ${i + 1} (`) && l.includes("s of 30s): ")),
        ok: probes.at(-1)?.endsWith(": healthy"),
      }).toEqual({
        code: 0,
        first: `  cli.example.com: starting slot green on port ${greenPort}`,
        last: "cli.example.com deployed successfully (slot green)",
        attempts: true,
        ok: true,
      });
      expect([afterDeploy.current_slot, afterDeploy.green.pid, afterDeploy.green.status, serving.version]).toEqual(["green", serving.pid, "Running", "v1"]);

      const restart = await cli(p, ["restart", "cli.example.com"]);
      const afterRestart = appState(p)["cli.example.com"];
      expect([restart.code, restart.stdout.trim().split("\n").at(-1), afterRestart.current_slot, processAlive(serving.pid), afterRestart.green]).toEqual([
        0,
        "cli.example.com restarted successfully (slot blue)",
        "blue",
        false,
        { port: greenPort, pid: null, status: "Stopped" },
      ]);

      // rollback: the other slot again (green), from the same directory
      const rollback = await cli(p, ["rollback", "cli.example.com"]);
      const afterRollback = appState(p)["cli.example.com"];
      expect([
        rollback.code,
        rollback.stdout.trim().split("\n").at(-1),
        afterRollback.current_slot,
        afterRollback.green.status,
        processAlive(afterRestart.blue.pid),
      ]).toEqual([0, "cli.example.com rolled back successfully (slot green)", "green", "Running", false]);
      const back = await cli(p, ["restart", "cli.example.com"]);
      expect(back.code).toBe(0);

      const logs = await cli(p, ["logs", "cli.example.com"]);
      expect([logs.code, logs.stdout]).toEqual([
        0,
        `=== cli.example.com (blue) ===\ntest app v1 listening on ${afterRestart.blue.port}\n=== cli.example.com (green) ===\ntest app v1 listening on ${greenPort}\n`,
      ]);

      const stop = await cli(p, ["stop", "cli.example.com"]);
      const afterStop = appState(p)["cli.example.com"];
      expect([stop.code, stop.stdout.trim(), processAlive(afterRestart.blue.pid), afterStop.stopped, afterStop.blue.status]).toEqual([
        0,
        "cli.example.com stopped successfully",
        false,
        true,
        "Stopped",
      ]);
    } finally {
      cleanup(p);
    }
  });

  test("an unknown app is exit 1 naming the sites directory and the known apps", async () => {
    const p = project();
    try {
      writeApp(p, "a.example.com");
      writeApp(p, "b.example.com");
      const deploy = await cli(p, ["deploy", "nope.example.com"]);
      const logs = await cli(p, ["logs", "../../etc"]);
      const missing = await cli(p, ["stop"]);
      const sites = join(p.dir, "sites");
      expect([deploy.code, deploy.stderr, logs.code, logs.stderr.split("\n")[0], missing.code, missing.stderr.split("\n")[0]]).toEqual([
        1,
        `Error: app 'nope.example.com' not found in ${sites}\nKnown apps: a.example.com, b.example.com\n`,
        1,
        `Error: app '../../etc' not found in ${sites}`,
        2,
        "Error: stop needs an app name",
      ]);
    } finally {
      cleanup(p);
    }
  });

  test("a standalone deploy whose new slot dies prints the reason and the log file, exit 1", async () => {
    const p = project();
    try {
      writeApp(p, "dies.example.com", { behaviour: { exitAfterMs: 0, neverListen: true } });
      const r = await cli(p, ["deploy", "dies.example.com"]);
      expect([r.code, r.stderr.trim()]).toEqual([
        1,
        "Error: Deployment failed: dies.example.com slot green exited with status 3 before becoming healthy on " +
          `http://127.0.0.1:${appState(p)["dies.example.com"].green.port}/health (see run/logs/dies.example.com/green.log)`,
      ]);
    } finally {
      cleanup(p);
    }
  });

  test("logs --follow prints what the slot logs receive", async () => {
    const p = project();
    try {
      writeApp(p, "tail.example.com");
      const logDir = join(p.dir, "run", "logs", "tail.example.com");
      mkdirSync(logDir, { recursive: true });
      writeFileSync(join(logDir, "blue.log"), "first\n");
      const proc = Bun.spawn([process.execPath, MAIN, "logs", "tail.example.com", "--follow", "-c", p.conf, "--sites-dir", join(p.dir, "sites")], {
        stdout: "pipe",
        stderr: "pipe",
      });
      let out = "";
      void (async () => {
        for await (const chunk of proc.stdout) out += new TextDecoder().decode(chunk);
      })();
      await waitFor(() => out.includes("first"), "the existing log", 5000);
      appendFileSync(join(logDir, "green.log"), "second\n");
      await waitFor(() => out.includes("second"), "the appended line", 5000);
      proc.kill();
      await proc.exited;
      expect(out).toBe("=== tail.example.com (blue) ===\nfirst\n=== tail.example.com (green) ===\nsecond\n");
    } finally {
      cleanup(p);
    }
  });

  test("a socket that refuses requests is no proxy: the CLI says the proxy did not answer; a stale socket file is ignored", async () => {
    const p = project();
    try {
      writeApp(p, "sock.example.com", { infos: defaultInfos().replace('start_script = "bun server.ts"\n', "") });
      mkdirSync(join(p.dir, "run"), { recursive: true });
      const sock = join(p.dir, "run", "control.sock");
      const server = net.createServer((s) => s.end());
      await new Promise<void>((r) => server.listen(sock, r));
      const live = await cli(p, ["deploy", "sock.example.com"]);
      // Not awaited: Bun's net.Server.close() callback waits forever once a fetch() has connected.
      server.close();
      rmSync(sock, { force: true });
      writeFileSync(sock, ""); // what a crashed proxy leaves behind
      const stale = await cli(p, ["deploy", "sock.example.com"]);
      expect([live.code, live.stderr.includes("no soli-proxy answers on"), stale.code, stale.stderr.trim()]).toEqual([
        1,
        true,
        1,
        "Error: Deployment failed: No start script configured for sock.example.com",
      ]);
    } finally {
      cleanup(p);
    }
  });

  test("docker mode runs `docker run` with the argv of SPEC §14.5 (a stand-in docker on PATH) and stops with docker stop and rm", async () => {
    const p = project();
    const { fake, env } = standInDocker(p);
    try {
      const dir = writeApp(p, "box.example.com", {
        infos: defaultInfos('docker_image = "example/box:1"\ndocker_options = "--memory 64m -e GREETING=hi -v ./data:/data:ro --read-only"\n'),
      });
      mkdirSync(join(dir, "data"));
      const deploy = await cli(p, ["deploy", "box.example.com"], env);
      const state = appState(p)["box.example.com"];
      const port = state.green.port;
      const answer = (await (await fetch(`http://127.0.0.1:${port}/`)).json()) as { env: Record<string, string> };
      const stop = await cli(p, ["stop", "box.example.com"], env);
      const calls = readFileSync(join(fake, "calls.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as { args: string[] }).args.join(" "));
      expect([deploy.code, deploy.stdout.trim().split("\n").at(-1), stop.code]).toEqual([0, "box.example.com deployed successfully (slot green)", 0]);
      expect(calls.slice(0, 4)).toEqual([
        "rm -f soli-box.example.com-green",
        "network inspect soli-apps",
        "network create --driver bridge soli-apps",
        `run -d --name soli-box.example.com-green --network soli-apps -p 127.0.0.1:${port}:${port} --memory=64m --env=GREETING=hi --volume=${dir}/data:/data:ro --read-only -e PORT=${port} -e WORKERS=1 -e HEALTH_CHECK=/health example/box:1 bun server.ts`,
      ]);
      expect(calls).toContain("logs -f soli-box.example.com-green");
      expect(calls.filter((c) => !c.startsWith("inspect")).slice(-2)).toEqual(["stop -t 2 soli-box.example.com-green", "rm -f soli-box.example.com-green"]);
      expect([answer.env.PORT, answer.env.GREETING, answer.env.HEALTH_CHECK, state.green.pid > 0]).toEqual([String(port), "hi", "/health", true]);
    } finally {
      cleanup(p);
    }
  });
});

describe("app environment and Docker rollback (SPEC §14.2, §14.7)", () => {
  test("env and env_file reach a native app (PORT and WORKERS stay the proxy's) and no value is printed", async () => {
    const p = project();
    try {
      const dir = writeApp(p, "env.example.com", { infos: defaultInfos('env = { NODE_ENV = "production", SHARED = "from-infos" }\nenv_file = ".env"\n') });
      writeFileSync(join(dir, ".env"), "# secrets\nAPI_TOKEN='tok-123'\nSHARED=from-file\nPORT=1\n");
      chmodSync(join(dir, ".env"), 0o644);
      const deploy = await cli(p, ["deploy", "env.example.com"]);
      const port = appState(p)["env.example.com"].green.port;
      const env = ((await (await fetch(`http://127.0.0.1:${port}/`)).json()) as { env: Record<string, string> }).env;
      expect([deploy.code, env.NODE_ENV, env.API_TOKEN, env.SHARED, env.PORT, env.WORKERS, `${deploy.stdout}${deploy.stderr}`.includes("tok-123")]).toEqual([
        0,
        "production",
        "tok-123",
        "from-infos",
        String(port),
        "1",
        false,
      ]);
    } finally {
      cleanup(p);
    }
  });

  test("an env_file turned into a symlink to another app's secrets after the check is refused at start, and no slot gets them", async () => {
    const p = project();
    try {
      const dir = writeApp(p, "leak.example.com", { infos: defaultInfos('env_file = ".env"\n') });
      writeFileSync(join(dir, ".env"), "OWN=1\n");
      chmodSync(join(dir, ".env"), 0o644);
      const first = await cli(p, ["deploy", "leak.example.com"]);
      // A secret outside this app's directory: the proxy (root here) can read it, the app's user cannot.
      mkdirSync(join(p.dir, "vault"), { mode: 0o700 });
      writeFileSync(join(p.dir, "vault", ".env"), "BANK_TOKEN=tok-of-another-app\n", { mode: 0o600 });
      rmSync(join(dir, ".env"));
      symlinkSync(join(p.dir, "vault", ".env"), join(dir, ".env"));
      const second = await cli(p, ["deploy", "leak.example.com"]);
      const state = appState(p)["leak.example.com"];
      const env = ((await (await fetch(`http://127.0.0.1:${state.green.port}/`)).json()) as { env: Record<string, string> }).env;
      expect([
        first.code,
        second.code,
        `${second.stdout}${second.stderr}`.includes("outside the app directory"),
        state.current_slot,
        env.OWN,
        env.BANK_TOKEN,
        state.blue.pid,
      ]).toEqual([0, 1, true, "green", "1", undefined, null]);
    } finally {
      cleanup(p);
    }
  });

  test("in Docker mode env becomes -e flags, and a rollback runs the image the other slot ran before, not the tag's new image", async () => {
    const p = project();
    const { fake, env } = standInDocker(p);
    const v1 = `sha256:${"1".repeat(64)}`;
    const v2 = `sha256:${"2".repeat(64)}`;
    try {
      writeApp(p, "roll.example.com", { infos: defaultInfos('docker_image = "example/roll:latest"\nenv = { NODE_ENV = "production" }\n') });
      writeFileSync(join(fake, "images.json"), JSON.stringify({ "example/roll:latest": v1 }));
      const first = await cli(p, ["deploy", "roll.example.com"], env); // green runs v1
      writeFileSync(join(fake, "images.json"), JSON.stringify({ "example/roll:latest": v2 }));
      const second = await cli(p, ["deploy", "roll.example.com"], env); // blue runs v2
      const rollback = await cli(p, ["rollback", "roll.example.com"], env); // green again, with v1
      const state = appState(p)["roll.example.com"];
      const runs = readFileSync(join(fake, "calls.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as { args: string[] }).args)
        .filter((a) => a[0] === "run");
      const stop = await cli(p, ["stop", "roll.example.com"], env);
      expect({
        codes: [first.code, second.code, rollback.code, stop.code],
        said: rollback.stdout.trim().split("\n").at(-1),
        images: runs.map((a) => a[a.indexOf("HEALTH_CHECK=/health") + 1]),
        env: runs[0]!.includes("NODE_ENV=production"),
        recorded: [state.current_slot, state.green.image, state.blue.image],
      }).toEqual({
        codes: [0, 0, 0, 0],
        said: "roll.example.com rolled back successfully (slot green)",
        images: ["example/roll:latest", "example/roll:latest", v1],
        env: true,
        recorded: ["green", v1, v2],
      });
    } finally {
      cleanup(p);
    }
  });
});
