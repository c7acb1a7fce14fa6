/**
 * An app's own environment (SPEC §14.2 `env`, `env_file`): the dotenv file, read at each start,
 * then the inline table over it. Values are secrets as far as we know: no message ever shows one.
 */
import { closeSync, fstatSync, openSync, readFileSync, realpathSync, statSync } from "node:fs";
import { isAbsolute, relative } from "node:path";
import type { ConfigIssue } from "../config/issues.ts";

/** Names a process environment can carry portably. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Set by the proxy for the slot; an app's env cannot change them (SPEC §14.2). */
export const RESERVED_ENV = new Set(["PORT", "WORKERS"]);

/**
 * dotenv syntax: `KEY=value` lines, `export KEY=value` accepted, `#` comment lines and blank lines
 * skipped, a value in single or double quotes taken literally (double quotes also read `\n`).
 * Errors name the line, never the value.
 */
export function parseDotenv(text: string, file: string): { values: Record<string, string>; issues: ConfigIssue[] } {
  const values: Record<string, string> = {};
  const issues: ConfigIssue[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const body = line.startsWith("export ") ? line.slice(7).trimStart() : line;
    const eq = body.indexOf("=");
    const name = eq > 0 ? body.slice(0, eq).trim() : "";
    if (!ENV_NAME.test(name)) {
      issues.push({ file, line: i + 1, column: 1, severity: "error", message: "expected KEY=value (KEY of letters, digits and '_')" });
      return;
    }
    let value = body.slice(eq + 1).trim();
    const quote = value[0];
    if (quote === '"' || quote === "'") {
      if (value.length < 2 || value.at(-1) !== quote) {
        issues.push({ file, line: i + 1, column: eq + 2, severity: "error", message: `the value of ${name} has no closing ${quote}` });
        return;
      }
      value = value.slice(1, -1);
      if (quote === '"') value = value.replaceAll("\\n", "\n");
    }
    if (RESERVED_ENV.has(name)) {
      issues.push({ file, line: i + 1, column: 1, severity: "warning", message: `${name} is set by the proxy for each slot; this one is ignored` });
      return;
    }
    values[name] = value;
  });
  return { values, issues };
}

/**
 * The text of an app's env_file, which must be a file inside the app directory once symlinks are
 * followed: the proxy reads it as its own user (root, on a server) and hands its values to the
 * app, so `.env -> ../other-app/.env` would give one app another's secrets. The file is opened
 * first and then compared by inode with the checked path, so swapping the link in between fails.
 */
export function readEnvFile(envFile: string, appDir: string): string {
  const fd = openSync(envFile, "r");
  try {
    const real = realpathSync(envFile);
    const rel = relative(realpathSync(appDir), real);
    const opened = fstatSync(fd);
    const checked = statSync(real);
    if (rel === "" || rel.startsWith("..") || isAbsolute(rel) || !opened.isFile() || opened.ino !== checked.ino || opened.dev !== checked.dev) {
      throw Object.assign(new Error("it leads outside the app directory"), { code: "outside the app directory (symlink)" });
    }
    return readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
}

/** The variables an app adds to its environment: env_file (read now), then `env` over it. */
export function userEnv(env: Readonly<Record<string, string>>, envFile: string | null, appDir: string): Record<string, string> {
  let fromFile: Record<string, string> = {};
  if (envFile !== null) {
    let text: string;
    try {
      text = readEnvFile(envFile, appDir);
    } catch (err) {
      throw new Error(`cannot read env_file ${envFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const parsed = parseDotenv(text, envFile);
    const error = parsed.issues.find((i) => i.severity === "error");
    if (error) throw new Error(`env_file ${envFile}:${error.line}: ${error.message}`);
    fromFile = parsed.values;
  }
  const out = { ...fromFile, ...env };
  for (const name of RESERVED_ENV) delete out[name];
  return out;
}
