/**
 * Settings and paths that were built but never exercised (issue 15 item 9): each test can fail.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "../../src/cli/args.ts";
import { processAlive } from "../../src/apps/process.ts";
import { startProxy } from "../../src/runtime/runtime.ts";
import { acmeDirectoryUrl, LETSENCRYPT_PRODUCTION, LETSENCRYPT_STAGING } from "../../src/tls/acme-directory.ts";
import { setBehaviour, startAppsProxy } from "../support/apps.ts";
import { readLogLines, startTestProxy, tempProject, testToml } from "../support/project.ts";
import { spawnProxy } from "../support/spawn.ts";
import { waitFor } from "../support/wait.ts";

describe("health probes and logging settings (SPEC §4, §5.2)", () => {
  test("custom probe paths answer; the default paths are then ordinary paths; health.enabled = false turns both off", async () => {
    await using custom = await startTestProxy("# no rules\n", { toml: '[health]\nliveness_path = "/_alive"\nreadiness_path = "/_ready"\n' });
    await using off = await startTestProxy("# no rules\n", { toml: "[health]\nenabled = false\n" });
    const status = async (url: string, path: string) => (await fetch(url + path)).status;
    expect([
      await status(custom.url, "/_alive"),
      await status(custom.url, "/_ready"),
      await status(custom.url, "/health/live"),
      await status(off.url, "/health/live"),
      await status(off.url, "/health/ready"),
    ]).toEqual([200, 200, 421, 421, 421]);
  });

  test('logging.level = "warn" keeps info lines out and warnings in', async () => {
    using project = tempProject({
      "proxy.conf": "# no rules\n",
      "config.toml": testToml('[logging]\nlevel = "warn"\noutput = "file:proxy.log"\n\n[colour]\nred = 1\n'),
    });
    const proxy = await startProxy({ confPath: project.conf, sitesDir: join(project.dir, "sites"), watch: false });
    try {
      await fetch(`http://127.0.0.1:${proxy.http.port}/nowhere`);
    } finally {
      await proxy.shutdown();
    }
    const lines = readLogLines(join(project.dir, "proxy.log"));
    expect([
      lines.some((l) => l.level === "warn" && String(l.msg).includes("unknown")),
      lines.filter((l) => l.level === "info" || l.level === "debug").length,
    ]).toEqual([true, 0]);
  });

  test("letsencrypt.staging picks the staging directory unless directory_url names one", () => {
    expect([
      acmeDirectoryUrl({ staging: false }),
      acmeDirectoryUrl({ staging: true }),
      acmeDirectoryUrl({ staging: true, directory_url: "https://ca.internal/dir" }),
    ]).toEqual([LETSENCRYPT_PRODUCTION, LETSENCRYPT_STAGING, "https://ca.internal/dir"]);
    expect(LETSENCRYPT_STAGING).toContain("acme-staging-v02");
  });

  test("the legacy positional dev|prod: dev runs in development mode, prod does not", async () => {
    expect([parseArgs(["dev"]).dev, parseArgs(["prod"]).dev, parseArgs(["--dev", "prod"]).dev, parseArgs(["check", "dev"]).args]).toEqual([
      true,
      false,
      false,
      ["dev"],
    ]);
    using project = tempProject({ "proxy.conf": "# no rules\n", "config.toml": testToml() });
    await using dev = await spawnProxy(project.conf, { args: ["dev"] });
    const listening = dev.listening as { dev: boolean };
    expect(listening.dev).toBe(true);
  });
});

describe("app supervision settings (SPEC §14.7, §14.8)", () => {
  test("an app that ignores SIGTERM is killed with SIGKILL once graceful_timeout runs out", async () => {
    await using proxy = await startAppsProxy({ apps: { "stubborn.example.com": { behaviour: { ignoreTerm: true } } } });
    const pid = proxy.handle.apps.get("stubborn.example.com").blue.pid!;
    const started = performance.now();
    await proxy.handle.apps.stop("stubborn.example.com");
    const took = performance.now() - started;
    const log = readFileSync(join(proxy.project.dir, "run", "logs", "stubborn.example.com", "blue.log"), "utf8");
    // graceful_timeout = 2 (defaultInfos): SIGTERM, 2 s, then SIGKILL
    expect([processAlive(pid), log.includes("SIGTERM ignored"), took >= 1900, took < 6000]).toEqual([false, true, true, true]);
  });

  test("apps.health_failure_threshold = 3 fails over only after three transport failures in a row", async () => {
    await using proxy = await startAppsProxy({
      apps: { "patient.example.com": {} },
      appsToml: '[apps]\ndefault_user = "nobody"\nhealth_failure_threshold = 3\n',
      timings: { monitorIntervalMs: 200 },
    });
    const info = proxy.handle.apps.get("patient.example.com");
    await fetch(`http://127.0.0.1:${info.blue.port}/__control/close`);
    await waitFor(() => proxy.handle.apps.get("patient.example.com").current_slot === "green", "the failover", 8000);
    const failures = proxy
      .logs()
      .filter((l) => String(l.msg).startsWith("health check of patient.example.com failed"))
      .map((l) => l.failures);
    const failoverAt = proxy.logs().findIndex((l) => String(l.msg).startsWith("failing over patient.example.com"));
    const lastFailureAt = proxy.logs().findLastIndex((l) => String(l.msg).startsWith("health check of patient.example.com failed"));
    expect([failures.slice(0, 3), lastFailureAt < failoverAt]).toEqual([[1, 2, 3], true]);
  });
});
