import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { scriptArgv, withDevFlag } from "../../src/apps/command.ts";
import { appEnv, executableBy, exitReason, resolveProgram } from "../../src/apps/process.ts";
import { resolveIdentity } from "../../src/apps/users.ts";
import { tempProject } from "../support/project.ts";

describe("scripts as argv (SPEC §14.4)", () => {
  test("split on whitespace with $PORT and $WORKERS replaced in every token, shell syntax kept literal", () => {
    expect(scriptArgv("  ./server --listen=127.0.0.1:$PORT  -w $WORKERS ;rm -rf / | cat $HOME > x ", { port: 20001, workers: 4 })).toEqual([
      "./server",
      "--listen=127.0.0.1:20001",
      "-w",
      "4",
      ";rm",
      "-rf",
      "/",
      "|",
      "cat",
      "$HOME",
      ">",
      "x",
    ]);
  });

  test("only soli scripts get --dev in dev mode, once", () => {
    expect([
      withDevFlag("soli serve .", true),
      withDevFlag("soli serve . --dev", true),
      withDevFlag("bun soli.ts", true),
      withDevFlag("soli serve .", false),
    ]).toEqual(["soli serve . --dev", "soli serve . --dev", "bun soli.ts", "soli serve ."]);
  });

  test("programs resolve against the app dir or PATH; bun missing from PATH is the Bun running the proxy", () => {
    const env = { PATH: "/nonexistent" };
    expect([
      resolveProgram("./server", "/srv/app", env).path,
      resolveProgram("sh", "/srv/app", { PATH: "/usr/bin:/bin" }).path.endsWith("/sh"),
      resolveProgram("bun", "/srv/app", env).path,
    ]).toEqual(["/srv/app/server", true, process.execPath]);
    expect(() => resolveProgram("no-such-program", "/srv/app", env)).toThrow("program 'no-such-program' not found on PATH (/nonexistent)");
  });

  test("a program is looked up as the user the app runs as: one only its owner can reach is skipped, and alone it is an error saying so", () => {
    using project = tempProject();
    const mine = join(project.dir, "private", "bin");
    const shared = join(project.dir, "shared");
    for (const [dir, mode] of [
      [mine, 0o700],
      [shared, 0o755],
    ] as const) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "tool"), "#!/bin/sh\n", { mode: 0o755 });
      chmodSync(dir, mode);
    }
    chmodSync(join(project.dir, "private"), 0o700);
    chmodSync(project.dir, 0o755);
    const me = process.getuid!();
    const other = { uid: me === 65534 ? 65533 : 65534, gid: 65534, home: "/", user: "other" };
    expect([
      resolveProgram("tool", "/", { PATH: `${mine}:${shared}` }, other).path,
      resolveProgram("tool", "/", { PATH: `${mine}:${shared}` }, null).path,
      executableBy(join(mine, "tool"), other),
      executableBy(join(mine, "tool"), { uid: me, gid: process.getgid!() }),
    ]).toEqual([join(shared, "tool"), join(mine, "tool"), false, true]);
    expect(() => resolveProgram("tool", "/", { PATH: mine }, other)).toThrow(
      `program 'tool' is not executable by user 'other': found ${join(mine, "tool")}, which 'other' cannot run`,
    );
  });

  test("the environment is the safe base plus PORT and WORKERS, with the target user's HOME", () => {
    const env = appEnv(20001, 2, { uid: 65534, gid: 65534, home: "/nonexistent", user: "nobody" });
    expect(Object.fromEntries(Object.entries(env).filter(([k]) => k !== "LANG" && k !== "TZ"))).toEqual({
      PATH: process.env.PATH || "/usr/local/bin:/usr/bin:/bin",
      HOME: "/nonexistent",
      PORT: "20001",
      WORKERS: "2",
    });
  });

  test("exit reasons say status or signal number", () => {
    expect([exitReason(3, null), exitReason(null, "SIGKILL"), exitReason(null, 15)]).toEqual([
      "exited with status 3",
      "killed by signal 9",
      "killed by signal 15",
    ]);
  });
});

describe("users and groups (SPEC §14.4)", () => {
  test("names resolve through passwd and group; a user without a group takes the same-named group, else its primary one", () => {
    using project = tempProject({
      passwd: "root:x:0:0:root:/root:/bin/sh\napp:x:1001:1001::/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
      group: "root:x:0:\napp:x:1001:\nweb:x:33:\nnogroup:x:65534:\n",
    });
    const files = { passwd: join(project.dir, "passwd"), group: join(project.dir, "group") };
    expect([
      resolveIdentity("app", "web", files),
      resolveIdentity("app", null, files),
      resolveIdentity("nobody", null, files),
      resolveIdentity("2000", "33", files),
    ]).toEqual([
      { uid: 1001, gid: 33, home: "/home/app", user: "app" },
      { uid: 1001, gid: 1001, home: "/home/app", user: "app" },
      { uid: 65534, gid: 65534, home: "/nonexistent", user: "nobody" },
      { uid: 2000, gid: 33, home: "/", user: "2000" },
    ]);
    expect(() => resolveIdentity("ghost", null, files)).toThrow("User 'ghost' not found");
    expect(() => resolveIdentity("app", "ghosts", files)).toThrow("Group 'ghosts' not found");
  });
});
