import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AppError } from "../../src/apps/errors.ts";
import { readFrom, rotateIfLarge, tailFile } from "../../src/apps/logs.ts";
import { ManagedApp } from "../../src/apps/managed.ts";
import { nextRetry } from "../../src/apps/monitor.ts";
import { createAppPort } from "../../src/apps/app-port.ts";
import { touchedApp } from "../../src/apps/sites-watch.ts";
import { Supervisor } from "../../src/apps/supervisor.ts";
import { DEFAULT_TIMINGS } from "../../src/apps/timings.ts";
import { defaultSettings } from "../../src/config/settings.ts";
import { silentLogger } from "../../src/lib/log.ts";
import { AppMetrics } from "../../src/state/app-metrics.ts";
import { defaultInfos, FAST, freePortBlock, openUp, writeApp } from "../support/apps.ts";
import { tempProject, type TempProject } from "../support/project.ts";

function supervisor(project: TempProject, opts: { uid?: number; defaultUser?: string } = {}) {
  const settings = { ...defaultSettings().apps, default_user: opts.defaultUser };
  const s = new Supervisor({
    sitesDir: join(project.dir, "sites"),
    runDir: join(project.dir, "run"),
    dev: false,
    log: silentLogger(),
    settings: () => settings,
    timings: FAST,
    uid: opts.uid,
  });
  s.discover();
  return { s, port: createAppPort(s, new AppMetrics()) };
}
const failure = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: AppError) => [e.kind, e.message],
  );

describe("starting a slot is refused with the SPEC message (SPEC §14.4, §14.7)", () => {
  test("as root without a user, with an unknown user, on a port in use, or without a start script", async () => {
    using project = tempProject();
    mkdirSync(join(project.dir, "sites"));
    openUp(project);
    writeApp(project, "root.example.com");
    writeApp(project, "ghost.example.com", { infos: defaultInfos('user = "ghost"\n') });
    writeApp(project, "noscript.example.com", { infos: "graceful_timeout = 1\n" });
    const taken = Bun.listen({ hostname: "127.0.0.1", port: freePortBlock(2), socket: { data() {} } });
    writeApp(project, "taken.example.com", { infos: `start_script = "bun server.ts"\nport_range_start = ${taken.port}\nport_range_end = ${taken.port + 1}\n` });
    mkdirSync(join(project.dir, "run"));
    writeFileSync(
      join(project.dir, "run", "ports.lock"),
      JSON.stringify({ [taken.port]: { app_name: "taken.example.com", slot: "green", port: taken.port, timestamp: "2026-01-01T00:00:00Z" } }),
    );
    try {
      // uid 0 pretends to be root: the refusals happen before anything is spawned
      const asRoot = supervisor(project, { uid: 0 });
      const asUser = supervisor(project, { uid: 1000 });
      expect([
        await failure(asRoot.port.deploy("root.example.com")),
        await failure(asRoot.port.deploy("ghost.example.com")),
        await failure(asUser.port.deploy("noscript.example.com")),
        await failure(asUser.port.deploy("taken.example.com")),
        asRoot.port.get("root.example.com").green.status,
      ]).toEqual([
        [
          "failed",
          `Deployment failed: Refusing to spawn root.example.com as root: no user/group configured (set user in ${join(project.dir, "sites", "root.example.com")}/app.infos or [apps] default_user in config.toml)`,
        ],
        ["failed", "Deployment failed: User 'ghost' not found"],
        ["failed", "Deployment failed: No start script configured for noscript.example.com"],
        ["failed", `Deployment failed: Port ${taken.port} is already in use by another process. Cannot start taken.example.com slot green`],
        "Failed",
      ]);
    } finally {
      taken.stop(true);
    }
  });
});

describe("crash policy (SPEC §14.8)", () => {
  test("the first failover is immediate, the next back off doubling, and more than 3 exits in a row give up", () => {
    const app = new ManagedApp({} as never, { blue: 1, green: 2 });
    const t = { ...DEFAULT_TIMINGS, crashBackoffMs: 1000, crashStableMs: 60_000 };
    const first = [nextRetry(app, 100, t), nextRetry(app, 100, t), nextRetry(app, 100, t), nextRetry(app, 100, t), app.gaveUp];
    const fresh = new ManagedApp({} as never, { blue: 1, green: 2 });
    fresh.unexpectedExits = 3;
    expect([first, nextRetry(fresh, 120_000, t), fresh.unexpectedExits]).toEqual([[0, 1000, 2000, null, true], 0, 1]);
  });
});

describe("slot logs (SPEC §11.2, §14.4)", () => {
  test("the tail drops a partial first line; rotation keeps one previous file; following restarts after a truncation", () => {
    using project = tempProject({ "a.log": "first line\nsecond line\nthird\n" });
    const file = join(project.dir, "a.log");
    const tail = tailFile(file, 14);
    const all = tailFile(file);
    const read = readFrom(file, 0);
    const rotated = [rotateIfLarge(file, 10), readFileSync(`${file}.1`, "utf8"), readFileSync(file, "utf8"), rotateIfLarge(file, 10)];
    writeFileSync(file, "new\n");
    expect([tail, all, read.offset, rotated, readFrom(file, read.offset), tailFile(join(project.dir, "missing.log"))]).toEqual([
      "third\n",
      "first line\nsecond line\nthird\n",
      29,
      [true, "first line\nsecond line\nthird\n", "", false],
      { text: "new\n", offset: 4 },
      "",
    ]);
  });
});

describe("sites watcher (SPEC §14.8)", () => {
  test("changes are attributed to their app except under node_modules, .git, tmp, target and in *.log", () => {
    expect(
      [
        "a.example.com/server.ts",
        "a.example.com/src/x.ts",
        "a.example.com",
        "a.example.com/node_modules/x/y.js",
        "a.example.com/.git/HEAD",
        "a.example.com/tmp/x",
        "a.example.com/target/debug/x",
        "a.example.com/app.log",
        "a.example.com/lib/tmp/x.ts",
      ].map(touchedApp),
    ).toEqual(["a.example.com", "a.example.com", null, null, null, null, null, null, null]);
  });
});
