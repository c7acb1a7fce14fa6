/**
 * Where the TUI finds everything (SPEC §1, §16.5): run/ beside proxy.conf, the sites directory,
 * the endpoint log, and how to reach the admin API when the control socket does not answer
 * (admin.bind from config.toml with its API key, or Basic as ADMIN_USER).
 */
import { locateRunDir } from "../../lib/run-location.ts";
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { formatIssue, hasErrors } from "../../config/issues.ts";
import { configFiles, validateSettingsText } from "../../config/load.ts";
import { defaultSettings, type Settings } from "../../config/settings.ts";
import { formatAuthority, parseBind } from "../../lib/net.ts";
import { parseDotEnv } from "../../runtime/admin-credentials.ts";

export interface AdminAccess {
  /** admin.enabled in config.toml. */
  enabled: boolean;
  /** `http://host:port` to connect to, null when admin.bind cannot be dialled (port 0). */
  origin: string | null;
  /** admin.api_key, "" when none. */
  apiKey: string;
  /** ADMIN_USER from the environment or .env, for the Basic sign-in prompt. */
  user: string | null;
}

export interface Places {
  confPath: string;
  configDir: string;
  socketPath: string;
  appStateFile: string;
  portsLockFile: string;
  sitesDir: string;
  /** The log holding endpoint lines: `[logging] output = "file:…"`, else run/logs/proxy.log (daemon). */
  logFile: string;
  admin: AdminAccess;
  /** Why config.toml could not be used (its defaults are assumed then), or null. */
  settingsProblem: string | null;
}

export function locate(opts: { conf: string; sitesDir: string; runDir?: string | null; env?: Record<string, string | undefined> }): Places {
  const files = configFiles(opts.conf);
  const run = locateRunDir(files.conf, opts.runDir);
  const { settings, problem } = readSettings(files.toml);
  const output = settings.logging.output;
  const logFile = output.startsWith("file:") ? resolveIn(files.dir, output.slice(5)) : join(run, "logs", "proxy.log");
  return {
    confPath: files.conf,
    configDir: files.dir,
    socketPath: join(run, "control.sock"),
    appStateFile: join(run, "app_state.json"),
    portsLockFile: join(run, "ports.lock"),
    sitesDir: resolve(opts.sitesDir),
    logFile,
    admin: {
      enabled: settings.admin.enabled,
      origin: dialOrigin(settings.admin.bind),
      apiKey: settings.admin.api_key,
      user: adminUser(files.dir, opts.env ?? process.env),
    },
    settingsProblem: problem,
  };
}

function readSettings(file: string): { settings: Settings; problem: string | null } {
  if (!existsSync(file)) return { settings: defaultSettings(), problem: null };
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    return { settings: defaultSettings(), problem: `cannot read ${file}: ${(err as Error).message}` };
  }
  const { settings, issues } = validateSettingsText(text, file);
  if (!settings || hasErrors(issues)) {
    const first = issues.find((i) => i.severity === "error");
    return { settings: defaultSettings(), problem: first ? formatIssue(first) : `${file} is invalid` };
  }
  return { settings, problem: null };
}

function resolveIn(dir: string, path: string): string {
  return isAbsolute(path) ? path : resolve(dir, path);
}

/** A wildcard bind is dialled on loopback; port 0 (any free port) cannot be dialled at all. */
export function dialOrigin(bind: string): string | null {
  const parsed = parseBind(bind);
  if (!parsed || parsed.port === 0) return null;
  let host = parsed.host;
  if (host === "0.0.0.0") host = "127.0.0.1";
  if (host === "::") host = "::1";
  return `http://${formatAuthority(host, parsed.port)}`;
}

/** ADMIN_USER: the environment first, then `.env` beside proxy.conf (SPEC §11.1); empty is unset. */
function adminUser(dir: string, env: Record<string, string | undefined>): string | null {
  if (env.ADMIN_USER) return env.ADMIN_USER;
  try {
    return parseDotEnv(readFileSync(join(dir, ".env"), "utf8")).ADMIN_USER || null;
  } catch {
    return null;
  }
}
