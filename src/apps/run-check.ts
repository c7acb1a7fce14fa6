/**
 * What `check` can tell before an app is started (issue 15 item 18, SPEC §14.4): a root proxy
 * needs a user to run each native app as, and the start program must be one that user can run
 * (found on PATH as that user, not only as root). A missing user and a program not installed at
 * all are warnings: that app will fail to start until they are fixed, and everything else still
 * works. A named user that does not exist, or a program only root can reach, are errors.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ConfigIssue } from "../config/issues.ts";
import { userEnv } from "./app-env.ts";
import { scriptArgv } from "./command.ts";
import type { AppConfig } from "./config.ts";
import { appEnv, resolveProgram } from "./process.ts";
import { resolveIdentity, type Identity } from "./users.ts";

export function runIssues(app: AppConfig, uid: number): ConfigIssue[] {
  if (app.docker || !app.startScript) return [];
  const file = join(app.dir, "app.infos");
  let identity: Identity | null = null;
  if (uid === 0) {
    if (!app.user) {
      // A warning, not an error: the proxy itself starts and serves, only this app stays down (as
      // with a missing launcher), and the original's example files must pass `check` as root.
      return [
        {
          file,
          severity: "warning",
          message: `${app.name} would run as root, which soli-proxy refuses: it will not start until you set user = "<name>" in this app.infos or [apps] default_user in config.toml`,
        },
      ];
    }
    try {
      identity = resolveIdentity(app.user, app.group);
    } catch (err) {
      return [
        { file, severity: "error", message: `${(err as Error).message}: set user (and group) in this app.infos or [apps] default_user to an existing account` },
      ];
    }
  }
  const [program] = scriptArgv(app.startScript, { port: 0, workers: app.workers });
  if (!program) return [];
  let own: Record<string, string> = {};
  try {
    own = userEnv(app.env, app.envFile, app.dir);
  } catch {
    // env_file problems are reported by the app.infos check itself
  }
  try {
    const found = resolveProgram(program, app.dir, appEnv(0, app.workers, identity, own), identity);
    if (program.includes("/") && !existsSync(found.path)) return [{ file, severity: "warning", message: `start program '${program}' not found in ${app.dir}` }];
    return [];
  } catch (err) {
    const message = (err as Error).message;
    const missing = message.includes("not found on PATH");
    return [{ file, severity: missing ? "warning" : "error", message: missing ? `${message}; ${app.name} will fail to start until it is installed` : message }];
  }
}
