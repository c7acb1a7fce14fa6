/**
 * app.infos while apps run (issue 15 items 10, 14): a broken edit keeps the app on its last good
 * settings with the error shown; a deploy reads the file first; SIGHUP re-reads the sites directory.
 */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AppError } from "../../src/apps/errors.ts";
import { assertBunUsableByNobody, defaultInfos, openUp, startAppsProxy, writeApp } from "../support/apps.ts";
import { tempProject, testToml } from "../support/project.ts";
import { spawnProxy } from "../support/spawn.ts";
import { waitFor } from "../support/wait.ts";

const version = async (res: Response) => ((await res.json()) as { env: Record<string, string> }).env;

// Concurrent (issue 19): each test has its own project, proxy and apps; they wait for app boots
// and health checks. Measured 8.1 / 6.0 s in series, 4.1 / 5.7 s together.
describe.concurrent("app.infos edits on a running proxy (SPEC §13, §14.1)", () => {
  test("a mistake in a running app's app.infos keeps it running on its last good settings, shows the error with file:line, and refuses deploys until fixed", async () => {
    await using proxy = await startAppsProxy({ apps: { "keep.example.com": {} }, watch: true });
    const infos = join(proxy.sites, "keep.example.com", "app.infos");
    const good = defaultInfos();
    writeFileSync(infos, `${good}graceful_timeout_typo = 1\n`.replace("graceful_timeout = 2", 'graceful_timeout = "5"'));
    const shown = await waitFor(() => proxy.handle.apps.get("keep.example.com").config_error, "the error to be shown", 5000);
    const serving = await proxy.get("keep.example.com");
    const refused = await proxy.handle.apps.deploy("keep.example.com").catch((e: AppError) => [e.kind, e.message]);
    writeFileSync(infos, good);
    await waitFor(() => proxy.handle.apps.get("keep.example.com").config_error === null, "the error to clear", 5000);
    const deployed = await proxy.handle.apps.deploy("keep.example.com");
    expect({
      shown: shown.replace(proxy.sites, "<sites>"),
      serving: serving.status,
      listed: proxy.handle.apps.list().map((a) => a.config.name),
      refused: (refused as string[])[0],
      refusedSays: (refused as string[])[1]?.includes(`${infos}:2:1: error: graceful_timeout: graceful_timeout must be an integer`),
      deployed: deployed.slot,
    }).toEqual({
      shown: "<sites>/keep.example.com/app.infos:2:1: error: graceful_timeout: graceful_timeout must be an integer",
      serving: 200,
      listed: ["keep.example.com"],
      refused: "failed",
      refusedSays: true,
      deployed: "green",
    });
  });

  test("with --watch false a deploy right after an edit runs the new settings", async () => {
    await using proxy = await startAppsProxy({ apps: { "fresh.example.com": {} }, watch: false });
    const before = await version(await proxy.get("fresh.example.com"));
    writeFileSync(join(proxy.sites, "fresh.example.com", "app.infos"), defaultInfos("workers = 3\n"));
    await proxy.handle.apps.deploy("fresh.example.com");
    const after = await version(await proxy.get("fresh.example.com"));
    expect([before.WORKERS, after.WORKERS]).toEqual(["1", "3"]);
  });

  test("SIGHUP re-reads the sites directory of a proxy started with --watch false", async () => {
    assertBunUsableByNobody();
    using project = tempProject({ "proxy.conf": "# no rules\n", "config.toml": testToml('[apps]\ndefault_user = "nobody"\n') });
    openUp(project);
    await using proxy = await spawnProxy(project.conf, { args: ["--watch", "false"] });
    const get = () => fetch(`http://127.0.0.1:${proxy.http}/`, { headers: { host: "late.example.com" } });
    const unknown = (await get()).status;
    writeApp(project, "late.example.com");
    process.kill(proxy.proc.pid, "SIGHUP");
    const served = await waitFor(async () => (await get()).status === 200, "the new app to serve", 10_000, 100).catch((e: Error) => e.message);
    // SIGTERM stops the app too (SPEC §15.4); the disposer's SIGKILL would leave it running
    expect([unknown, served, await proxy.stop("SIGTERM")]).toEqual([421, true, 0]);
  });
});

describe.concurrent("the sites directory in use (SPEC §2)", () => {
  test("without --sites-dir it is sites/ beside proxy.conf, whatever the working directory, and the log names it", async () => {
    assertBunUsableByNobody();
    using project = tempProject({ "proxy.conf": "# no rules\n", "config.toml": testToml('[apps]\ndefault_user = "nobody"\n') });
    openUp(project);
    writeApp(project, "beside.example.com");
    await using proxy = await spawnProxy(project.conf, { cwd: "/", defaultSitesDir: true });
    const served = await waitFor(
      async () => (await fetch(`http://127.0.0.1:${proxy.http}/`, { headers: { host: "beside.example.com" } })).status === 200,
      "the app to serve",
      10_000,
      100,
    ).catch((e: Error) => e.message);
    const named = proxy.output().includes(`"msg":"managed apps from ${join(project.dir, "sites")}"`);
    expect([served, named, await proxy.stop("SIGTERM")]).toEqual([true, true, 0]);
  });

  test("a sites directory with no apps never overwrites the app state recorded in run/ (a warning instead)", async () => {
    const recorded = JSON.stringify({
      "gone.example.com": {
        current_slot: "green",
        stopped: false,
        blue: { port: 20000, pid: null, status: "Stopped" },
        green: { port: 20001, pid: null, status: "Running" },
      },
    });
    await using proxy = await startAppsProxy({ before: (p) => void p.write("run/app_state.json", recorded) });
    const { readFileSync } = await import("node:fs");
    expect([
      readFileSync(join(proxy.project.dir, "run", "app_state.json"), "utf8"),
      proxy
        .logs()
        .some((l) => l.level === "warn" && String(l.msg).includes("records 1 app(s) (gone.example.com) but") && String(l.msg).includes("left as it is")),
    ]).toEqual([recorded, true]);
  });
});
