/**
 * scripts/soli-proxy.service: systemd accepts it (systemd-analyze verify, Debian package systemd,
 * installed by .ci/run) and it keeps the properties the README promises.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tempProject } from "../support/project.ts";
import { ROOT } from "../support/spawn.ts";

const UNIT = readFileSync(join(ROOT, "scripts", "soli-proxy.service"), "utf8");

/** `Key=value` lines of the unit, values of repeated keys joined by a space. */
function directives(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = out[m[1]!] ? `${out[m[1]!]} ${m[2]}` : m[2]!;
  }
  return out;
}

describe("the systemd unit", () => {
  test("runs the proxy in the foreground, restarts it on failure, and reload is a hitless upgrade (SIGUSR2) that systemd follows through the pid file", () => {
    const d = directives(UNIT);
    expect([d.Type, d.ExecStart, d.Restart, d.ExecReload, d.PIDFile, d.KillMode, d.WantedBy]).toEqual([
      "simple",
      "/usr/local/bin/soli-proxy -c /opt/soli-proxy/proxy.conf --sites-dir /opt/soli-proxy/sites --run-dir /var/lib/soli-proxy",
      "on-failure",
      "/bin/kill -USR2 $MAINPID",
      "/var/lib/soli-proxy/proxy.pid",
      // SIGTERM to the proxy alone (it stops its apps, SPEC §15.4), then SIGKILL to what is left
      "mixed",
      "multi-user.target",
    ]);
  });

  test("keeps run/ in the system's state directory, with its logs/ in the log directory", () => {
    const d = directives(UNIT);
    expect([d.StateDirectory, d.StateDirectoryMode, d.LogsDirectory, d.ExecStartPre]).toEqual([
      "soli-proxy",
      "0700",
      "soli-proxy",
      "/bin/ln -sfn /var/log/soli-proxy /var/lib/soli-proxy/logs",
    ]);
  });

  test("is hardened without losing low ports: CAP_NET_BIND_SERVICE and nothing else, read-only system, no W^X ban for the JIT", () => {
    const d = directives(UNIT);
    expect([
      d.User,
      d.AmbientCapabilities,
      d.CapabilityBoundingSet,
      d.NoNewPrivileges,
      d.ProtectSystem,
      d.ReadWritePaths,
      d.ProtectHome,
      d.PrivateTmp,
      d.MemoryDenyWriteExecute,
    ]).toEqual(["soli-proxy", "CAP_NET_BIND_SERVICE", "CAP_NET_BIND_SERVICE", "true", "strict", "/opt/soli-proxy", "true", "true", undefined]);
  });

  test.skipIf(!Bun.which("systemd-analyze"))("passes systemd-analyze verify without a warning", () => {
    // verify also checks that ExecStart exists: point it at an executable that does
    using dir = tempProject();
    const unit = dir.write("soli-proxy.service", UNIT.replaceAll("/usr/local/bin/soli-proxy", "/bin/true"));
    const r = Bun.spawnSync(["systemd-analyze", "verify", unit], { stdout: "pipe", stderr: "pipe" });
    expect([r.exitCode, r.stdout.toString(), r.stderr.toString()]).toEqual([0, "", ""]);
  });
});
