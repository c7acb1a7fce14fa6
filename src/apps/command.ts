/**
 * Start and stop scripts as argv (SPEC §14.4): split on whitespace, `$PORT` and `$WORKERS`
 * replaced in every token, no shell. A program written as a relative path (`./server`,
 * `bin/server`) resolves against the app directory and must stay inside it.
 */
import { existsSync, realpathSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { isInside } from "./docker-options.ts";

export interface ScriptVars {
  port: number;
  workers: number;
}

/** The argv of a script with the variables filled in. */
export function scriptArgv(script: string, vars: ScriptVars): string[] {
  return script
    .split(/\s+/)
    .filter((t) => t !== "")
    .map((t) => t.replaceAll("$PORT", String(vars.port)).replaceAll("$WORKERS", String(vars.workers)));
}

/**
 * Null when the script's program is acceptable for an app in `appDir`, else why not. Bare names
 * (`bun`) are looked up on PATH at start; absolute paths are the operator's choice.
 */
export function scriptProblem(script: string, appDir: string): string | null {
  const program = script.trim().split(/\s+/)[0] ?? "";
  if (program === "") return "is empty";
  if (!program.includes("/") || isAbsolute(program)) return null;
  const absolute = resolve(appDir, program);
  if (!isInside(absolute, appDir)) return `program '${program}' is outside the app directory ${appDir}`;
  if (existsSync(absolute)) {
    try {
      if (!isInside(realpathSync(absolute), realpathSync(appDir))) return `program '${program}' links outside the app directory ${appDir}`;
    } catch {
      return `program '${program}' cannot be resolved`;
    }
  }
  return null;
}

/** `soli` start scripts get `--dev` in development mode (SPEC §14.3). */
export function withDevFlag(script: string, dev: boolean): string {
  if (!dev) return script;
  const tokens = script.trim().split(/\s+/);
  if (tokens[0] !== "soli" || tokens.includes("--dev")) return script;
  return `${script.trim()} --dev`;
}
