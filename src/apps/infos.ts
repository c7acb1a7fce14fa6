/**
 * app.infos (SPEC §14.2): optional flat TOML in an app's directory. Every field has a default;
 * a parse or type error names the file and the field. Scripts whose program leaves the app
 * directory and docker_options outside the allow-list (SPEC §14.5) are errors here, so `check`
 * reports them and a deploy never gets that far.
 */
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { ENV_NAME, parseDotenv, readEnvFile, RESERVED_ENV } from "./app-env.ts";
import { parse as parseToml, TomlError } from "smol-toml";
import { z } from "zod";
import { hasErrors, type ConfigIssue } from "../config/issues.ts";
import { tomlLocator } from "../config/toml-position.ts";
import { scriptProblem } from "./command.ts";
import { isInside, parseDockerOptions } from "./docker-options.ts";

/** A DNS name: labels of letters, digits and inner hyphens, joined by dots. */
const DNS_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

const int = (what: string, min: number) =>
  z
    .number({ error: `${what} must be an integer` })
    .int({ error: `${what} must be an integer` })
    .min(min, { error: `${what} must be at least ${min}` });
const port = (what: string) => int(what, 1).max(65535, { error: `${what} must be at most 65535` });

export const appInfosSchema = z
  .strictObject({
    // The name becomes a path component (run/logs/<name>/) and a container name: no separators, no dot first.
    name: z
      .string()
      .regex(/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/, { error: "name may contain only letters, digits, '.', '_' and '-', and must not start with '.'" })
      .optional(),
    domain: z.string().regex(DNS_NAME, { error: "domain must be a DNS name like shop.example.com" }).optional(),
    start_script: z.string().optional(),
    // The original writes `stop_script = ""` for "none" (SPEC §14.2).
    stop_script: z
      .string()
      .optional()
      .transform((v) => (v === "" ? undefined : v)),
    health_check: z
      .string()
      .refine((v) => v.startsWith("/"), { error: "health_check must be a path starting with '/'" })
      .optional(),
    health_timeout: int("health_timeout", 1).max(3600, { error: "health_timeout must be at most 3600" }).default(30),
    graceful_timeout: int("graceful_timeout", 1).default(30),
    drain_delay: int("drain_delay", 0).default(5),
    port_range_start: port("port_range_start").default(20000),
    port_range_end: port("port_range_end").default(30000),
    workers: int("workers", 1).default(1),
    user: z.string().optional(),
    group: z.string().optional(),
    docker_image: z.string().optional(),
    docker_options: z.string().optional(),
    docker_network: z.string().default("soli-apps"),
    // An inline table keeps app.infos flat: env = { NODE_ENV = "production" } (SPEC §14.2).
    env: z
      .record(
        z.string().regex(ENV_NAME, { error: "env names are letters, digits and '_', not starting with a digit" }),
        z.string({ error: 'env values must be strings (quote numbers: "3")' }),
        { error: 'env must be an inline table of strings, e.g. env = { NODE_ENV = "production" }' },
      )
      .default({}),
    env_file: z.string().optional(),
  })
  .superRefine((v, ctx) => {
    for (const name of Object.keys(v.env)) {
      if (RESERVED_ENV.has(name)) ctx.addIssue({ code: "custom", path: ["env"], message: `env cannot set ${name}: the proxy sets it for each slot` });
    }
    if (v.port_range_end < v.port_range_start) {
      ctx.addIssue({ code: "custom", path: ["port_range_end"], message: "port_range_end must not be below port_range_start" });
    }
  });

export type AppInfos = z.output<typeof appInfosSchema>;

/** Parses an app.infos text; `infos` is null when it has errors. Unknown keys are warnings. */
export function parseAppInfos(text: string, file: string): { infos: AppInfos | null; issues: ConfigIssue[] } {
  let raw: Record<string, unknown>;
  try {
    raw = text.trim() === "" ? {} : (parseToml(text) as Record<string, unknown>);
  } catch (err) {
    if (err instanceof TomlError) {
      return { infos: null, issues: [{ file, line: err.line, column: err.column, severity: "error", message: err.message.split("\n")[0] ?? "invalid TOML" }] };
    }
    return { infos: null, issues: [{ file, severity: "error", message: String(err) }] };
  }
  const issues: ConfigIssue[] = [];
  const locate = tomlLocator(text);
  const known = appInfosSchema.shape;
  const clean: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key in known) clean[key] = value;
    else issues.push({ file, ...(locate([key]) ?? {}), path: key, severity: "warning", message: `unknown key '${key}' ignored` });
  }
  const result = appInfosSchema.safeParse(clean);
  if (!result.success) {
    for (const i of result.error.issues) {
      const path = i.path.map(String).join(".");
      const key = String(i.path[0] ?? "");
      // A range error on an end left at its default points at the start that was written.
      const pos = locate([key]) ?? (key === "port_range_end" ? locate(["port_range_start"]) : undefined);
      issues.push({ file, ...(pos ?? {}), path, severity: "error", message: path ? `${path}: ${i.message}` : i.message });
    }
    return { infos: null, issues };
  }
  const infos = result.data;
  const dir = dirname(file);
  const refuse = (key: string, message: string) => issues.push({ file, ...(locate([key]) ?? {}), path: key, severity: "error", message: `${key}: ${message}` });
  for (const key of ["start_script", "stop_script"] as const) {
    const script = infos[key];
    const problem = script === undefined ? null : scriptProblem(script, dir);
    if (problem) refuse(key, problem);
  }
  const docker = parseDockerOptions(infos.docker_options, dir);
  if (!docker.ok) refuse("docker_options", docker.error);
  if (infos.env_file !== undefined) {
    const envFile = resolve(dir, infos.env_file);
    if (!isInside(envFile, dir)) refuse("env_file", `'${infos.env_file}' is outside the app directory ${dir}`);
    else if (!existsSync(envFile)) refuse("env_file", `'${infos.env_file}' not found in ${dir}`);
    else {
      // Its syntax is checked like the rest; its values are never shown.
      try {
        issues.push(...parseDotenv(readEnvFile(envFile, dir), envFile).issues);
      } catch (err) {
        refuse("env_file", `cannot read '${infos.env_file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
  }
  return hasErrors(issues) ? { infos: null, issues } : { infos, issues };
}
