/**
 * The only config file that reads disk: proxy.conf and config.toml → validated plain objects and
 * every issue with file, line and column. Nothing here throws for a user's mistake.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import type { z } from "zod";
import { checkAuth, type AuthMaterial } from "./load-auth.ts";
import type { ConfigIssue } from "./issues.ts";
import { hasErrors } from "./issues.ts";
import type { ProxyConf } from "./model.ts";
import { checkParsedConf } from "./rule-checks.ts";
import { proxyConfSchema } from "./schema.ts";
import { settingsSchema, stripUnknownKeys, type Settings } from "./settings.ts";
import { parseProxyConf, type ParsedProxyConf, type Position, type PositionMap } from "./syntax.ts";
import { tomlLocator } from "./toml-position.ts";

export interface ConfigFiles {
  /** Absolute path of proxy.conf. */
  conf: string;
  /** config.toml beside it. */
  toml: string;
  /** The config dir: relative paths in config.toml resolve against it. */
  dir: string;
}

export function configFiles(confPath: string): ConfigFiles {
  const conf = resolve(confPath);
  const dir = dirname(conf);
  return { conf, toml: join(dir, "config.toml"), dir };
}

export interface LoadedConfig {
  files: ConfigFiles;
  /** Exact text read, so a watcher can tell a real change from a rewrite of the same content. */
  confText: string | null;
  tomlText: string | null;
  parsed: ParsedProxyConf | null;
  conf: ProxyConf | null;
  settings: Settings | null;
  /** Key material of [auth.jwt], read and checked (SPEC §7.4). */
  auth: AuthMaterial | null;
  issues: ConfigIssue[];
}

export function loadConfig(files: ConfigFiles): LoadedConfig {
  const issues: ConfigIssue[] = [];
  const confName = files.conf;
  let confText: string | null = null;
  let tomlText: string | null = null;
  let parsed: ParsedProxyConf | null = null;
  let conf: ProxyConf | null = null;

  if (!existsSync(files.conf)) {
    issues.push({ file: confName, severity: "error", message: `config file '${files.conf}' not found` });
  } else {
    try {
      confText = readFileSync(files.conf, "utf8");
    } catch (err) {
      issues.push({ file: confName, severity: "error", message: `cannot read: ${(err as Error).message}` });
    }
  }
  if (confText !== null) {
    const result = validateProxyConfText(confText, confName);
    parsed = result.parsed;
    conf = result.conf;
    issues.push(...result.issues);
  }

  let settings: Settings | null = null;
  if (existsSync(files.toml)) {
    try {
      tomlText = readFileSync(files.toml, "utf8");
      const result = validateSettingsText(tomlText, files.toml);
      settings = result.settings;
      issues.push(...result.issues);
    } catch (err) {
      issues.push({ file: files.toml, severity: "error", message: `cannot read: ${(err as Error).message}` });
    }
  } else {
    settings = settingsSchema.parse({});
  }

  const auth = checkAuth({ conf, settings, dir: files.dir, confFile: confName, tomlFile: files.toml, tomlText, positions: parsed?.positions ?? null });
  issues.push(...auth.issues);

  return { files, confText, tomlText, parsed, conf, settings, auth: auth.material, issues };
}

export function validateProxyConfText(text: string, file: string): { parsed: ParsedProxyConf; conf: ProxyConf | null; issues: ConfigIssue[] } {
  const parsed = parseProxyConf(text, file);
  const issues = [...parsed.issues];
  // The parser's output has the schema's shape by construction: its values are checked directly
  // (rule-checks.ts), with the schema's messages, instead of walking it through zod.
  const checked = checkParsedConf(parsed.conf);
  for (const problem of checked.problems) issues.push(valueIssue(file, problem.path, problem.message, nearestPosition(parsed.positions, problem.path)));
  const conf = checked.problems.length === 0 && !hasErrors(issues) ? checked.conf : null;
  return { parsed, conf, issues };
}

/** Validates a plain ProxyConf (an admin API write); issues carry dotted paths instead of lines. */
export function validateProxyConf(input: unknown, file: string): { conf: ProxyConf | null; issues: ConfigIssue[] } {
  const result = proxyConfSchema.safeParse(input);
  if (result.success) return { conf: result.data as ProxyConf, issues: [] };
  return { conf: null, issues: zodIssues(result.error, file, () => undefined) };
}

export function validateSettingsText(text: string, file: string): { settings: Settings | null; issues: ConfigIssue[] } {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (err) {
    if (err instanceof TomlError) {
      const message = err.message.split("\n")[0]?.replace(/^Invalid TOML document: /, "") ?? "invalid TOML";
      return { settings: null, issues: [{ file, line: err.line, column: err.column, severity: "error", message }] };
    }
    return { settings: null, issues: [{ file, severity: "error", message: String(err) }] };
  }
  const issues: ConfigIssue[] = [];
  const locate = tomlLocator(text);
  const { value, unknown } = stripUnknownKeys(raw);
  for (const path of unknown) {
    const pos = locate(path.split("."));
    issues.push({ file, ...(pos ?? {}), path, severity: "warning", message: `unknown key '${path}' ignored` });
  }
  const result = settingsSchema.safeParse(value);
  if (!result.success) {
    issues.push(...zodIssues(result.error, file, (path) => locate(path.split(".").filter((p) => !/^\d+$/.test(p)))));
    return { settings: null, issues };
  }
  // Bun (uWS) checks idle timers every 4 s: a timeout under 5 s is not honoured as written, and
  // even busy keep-alive connections get closed, which their clients see as resets (measured with
  // Bun 1.4.5; test/e2e/slow-clients.test.ts shows it).
  if (result.data.limits.keep_alive_timeout < 5) {
    const pos = locate(["limits", "keep_alive_timeout"]);
    const message =
      "keep_alive_timeout below 5 s is unreliable: idle connections are checked every 4 s and busy keep-alive connections may be closed under their clients; use 5 or more";
    issues.push({ file, ...(pos ?? {}), path: "limits.keep_alive_timeout", severity: "warning", message });
  }
  return { settings: result.data, issues };
}

function zodIssues(error: z.ZodError, file: string, locate: (path: string) => Position | undefined): ConfigIssue[] {
  return error.issues.map((i) => {
    const path = i.path.map(String).join(".");
    return valueIssue(file, path, i.message, locate(path));
  });
}

/** An error about the value at `path`; without a position the message names the path instead. */
function valueIssue(file: string, path: string, message: string, pos: Position | undefined): ConfigIssue {
  const where = path && !pos ? `${path}: ` : "";
  return { file, line: pos?.line, column: pos?.column, path, severity: "error", message: where + message };
}

/** The position recorded for the path, or for its closest recorded ancestor. */
function nearestPosition(positions: PositionMap, path: string): Position | undefined {
  let p = path;
  for (;;) {
    const found = positions.get(p);
    if (found) return found;
    const dot = p.lastIndexOf(".");
    if (dot < 0) return undefined;
    p = p.slice(0, dot);
  }
}
