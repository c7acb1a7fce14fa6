/**
 * `docker_options` (SPEC §14.5): extra `docker run` flags, split on whitespace like a start
 * script (no shell quoting), accepted only from an allow-list. A container must not get the host's
 * network, devices, capabilities or files outside its app directory, so everything else is refused.
 */
import { existsSync, realpathSync } from "node:fs";
import { isAbsolute, relative, resolve } from "node:path";

/** Flags that take a value, long and short spellings. `--health-*` is matched by prefix. */
const VALUE_FLAGS = new Map<string, string>([
  ["-e", "--env"],
  ["--env", "--env"],
  ["-l", "--label"],
  ["--label", "--label"],
  ["-m", "--memory"],
  ["--memory", "--memory"],
  ["--cpus", "--cpus"],
  ["--cpu-shares", "--cpu-shares"],
  ["--pids-limit", "--pids-limit"],
  ["--shm-size", "--shm-size"],
  ["--stop-timeout", "--stop-timeout"],
  ["--tmpfs", "--tmpfs"],
  ["--ulimit", "--ulimit"],
  ["-v", "--volume"],
  ["--volume", "--volume"],
]);
/** Flags without a value (`--read-only` or `--read-only=true`). */
const SWITCHES = new Set(["--read-only"]);

export type DockerOptions = { ok: true; argv: string[] } | { ok: false; error: string };

/**
 * Validates `docker_options` for the app in `appDir` and returns the argv to put in `docker run`,
 * every flag in `--flag=value` form and volume sources made absolute.
 */
export function parseDockerOptions(text: string | undefined, appDir: string): DockerOptions {
  const tokens = (text ?? "").split(/\s+/).filter((t) => t !== "");
  const argv: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const eq = token.startsWith("--") ? token.indexOf("=") : -1;
    const flag = eq > 0 ? token.slice(0, eq) : token;
    if (SWITCHES.has(flag)) {
      argv.push(token);
      continue;
    }
    const long = VALUE_FLAGS.get(flag) ?? (flag.startsWith("--health-") && flag.length > 9 ? flag : null);
    if (!long) return { ok: false, error: `docker option '${flag}' is not allowed` };
    let value: string | undefined;
    if (eq > 0) value = token.slice(eq + 1);
    else value = tokens[++i];
    if (value === undefined || value === "") return { ok: false, error: `docker option '${flag}' needs a value` };
    if (long === "--volume") {
      const mount = bindMountInside(value, appDir);
      if (mount === null) return { ok: false, error: `volume '${value}' must be a bind mount inside ${appDir}` };
      value = mount;
    }
    argv.push(`${long}=${value}`);
  }
  return { ok: true, argv };
}

/**
 * `src:dst[:mode]` with `src` a path inside the app directory (relative paths resolve against it;
 * `..` escapes and symlinks pointing out are refused). Null for named or anonymous volumes.
 */
function bindMountInside(spec: string, appDir: string): string | null {
  const parts = spec.split(":");
  if (parts.length < 2 || parts.length > 3) return null;
  const [source, target, mode] = parts as [string, string, string | undefined];
  if (target === "" || !target.startsWith("/")) return null;
  // A source without a slash that does not start with "." is a named volume.
  if (!(source.startsWith("/") || source.startsWith("."))) return null;
  const absolute = resolve(appDir, source);
  if (!isInside(absolute, appDir)) return null;
  if (existsSync(absolute)) {
    try {
      if (!isInside(realpathSync(absolute), realpathSync(appDir))) return null;
    } catch {
      return null;
    }
  }
  return [absolute, target, ...(mode === undefined ? [] : [mode])].join(":");
}

/** Whether `path` is `dir` or below it (both absolute). */
export function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}
