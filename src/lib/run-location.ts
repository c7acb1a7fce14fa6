/**
 * Where run/ is (SPEC §1, issue 16): `--run-dir` (relative to the working directory), else
 * `[server] run_dir` in config.toml (relative to the config dir), else `run/` beside proxy.conf.
 * A server keeps it in its state directory so that `-c /etc/soli-proxy/proxy.conf` never writes
 * sockets and logs under /etc. Every command that touches run/ (the proxy, deploy/stop/logs, tui,
 * update, -d) finds it the same way; a config.toml that does not parse is reported by whoever
 * loads it for real, so here it just means "no run_dir".
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parse } from "smol-toml";

export function locateRunDir(confPath: string, cliRunDir?: string | null): string {
  if (cliRunDir) return resolve(cliRunDir);
  const configDir = dirname(resolve(confPath));
  const fromToml = runDirInToml(join(configDir, "config.toml"));
  return fromToml ? resolve(configDir, fromToml) : join(configDir, "run");
}

function runDirInToml(tomlPath: string): string | null {
  if (!existsSync(tomlPath)) return null;
  try {
    const server = (parse(readFileSync(tomlPath, "utf8")) as { server?: { run_dir?: unknown } }).server;
    return typeof server?.run_dir === "string" && server.run_dir !== "" ? server.run_dir : null;
  } catch {
    return null;
  }
}
