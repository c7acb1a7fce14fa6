/**
 * Native slot processes (SPEC §14.4): spawned without a shell, in their own session (setsid, so
 * the process group can be signalled as a whole and outlives a CLI that started it), with a
 * cleared environment, stdin from /dev/null, stdout and stderr on the slot log, and the
 * configured uid/gid (Bun.spawn calls setgid, clears the supplementary groups, then setuid).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { constants } from "node:os";
import { dirname, resolve } from "node:path";
import type { Identity } from "./users.ts";

/** A running slot, native or container. */
export interface SlotProcess {
  /** OS pid of the process (for containers: the container's main pid), null when unknown. */
  readonly pid: number | null;
  /** Settles once the process is gone, with why (`exited with status N`, `killed by signal N`). */
  readonly exited: Promise<string>;
  /** Ends it: SIGTERM to the group, SIGKILL once `budgetMs` ran out (docker: `docker stop`/`rm`). */
  terminate(budgetMs: number): Promise<void>;
}

export interface NativeSpawn {
  argv: readonly string[];
  cwd: string;
  env: Record<string, string>;
  /** Descriptor of the slot log, shared by stdout and stderr. */
  logFd: number;
  identity: Identity | null;
}

/**
 * The environment of an app (SPEC §14.4): the safe base, the app's own `env`/`env_file` over it
 * (SPEC §14.2), then PORT and WORKERS, which the app cannot change.
 */
export function appEnv(port: number, workers: number, identity: Identity | null, own: Readonly<Record<string, string>> = {}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH || "/usr/local/bin:/usr/bin:/bin",
    HOME: identity?.home ?? process.env.HOME ?? "/",
  };
  if (process.env.LANG) env.LANG = process.env.LANG;
  if (process.env.TZ) env.TZ = process.env.TZ;
  return { ...env, ...own, PORT: String(port), WORKERS: String(workers) };
}

/**
 * The executable for a script's program: a path resolves against the app directory; a bare name is
 * looked up on the app's PATH. `bun` missing from PATH means the Bun running this proxy (a
 * compiled soli-proxy acts as bun with BUN_BE_BUN=1), so a Bun app works without a global bun.
 */
export function resolveProgram(
  program: string,
  cwd: string,
  env: Record<string, string>,
  identity: Identity | null = null,
): { path: string; env: Record<string, string> } {
  if (program.includes("/")) return { path: resolve(cwd, program), env };
  // As the user the app runs as: a root proxy must not pick a program only root can run (EACCES).
  const unreachable: string[] = [];
  for (const dir of (env.PATH ?? "").split(":")) {
    if (dir === "") continue;
    const candidate = resolve(cwd, dir, program);
    if (!isExecutableFile(candidate)) continue;
    if (identity === null || executableBy(candidate, identity)) return { path: candidate, env };
    unreachable.push(candidate);
  }
  if (program === "bun" && process.versions.bun && (identity === null || executableBy(process.execPath, identity))) {
    const compiled = Bun.main.startsWith("/$bunfs/");
    return { path: process.execPath, env: compiled ? { ...env, BUN_BE_BUN: "1" } : env };
  }
  if (unreachable.length > 0 && identity !== null) {
    throw new Error(
      `program '${program}' is not executable by user '${identity.user}': found ${unreachable.join(", ")}, which '${identity.user}' cannot run; install it where that user can (e.g. /usr/local/bin) or give start_script an absolute path the user can run`,
    );
  }
  throw new Error(`program '${program}' not found on PATH (${env.PATH ?? ""})${identity ? ` for user '${identity.user}'` : ""}`);
}

function isExecutableFile(path: string): boolean {
  try {
    const st = statSync(path);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * Whether `identity` (uid and primary gid: the spawn clears supplementary groups) may run `path`:
 * the file executable and every directory above it searchable by that user.
 */
export function executableBy(path: string, identity: Pick<Identity, "uid" | "gid">): boolean {
  const allowed = (target: string, bit: number): boolean => {
    try {
      const st = statSync(target);
      if (identity.uid === 0) return true;
      if (st.uid === identity.uid) return (st.mode & (bit << 6)) !== 0;
      if (st.gid === identity.gid) return (st.mode & (bit << 3)) !== 0;
      return (st.mode & bit) !== 0;
    } catch {
      return false;
    }
  };
  const full = resolve(path);
  for (let dir = dirname(full); ; dir = dirname(dir)) {
    if (!allowed(dir, 0o1)) return false;
    if (dir === "/") break;
  }
  return allowed(full, 0o1);
}

export function spawnNative(opts: NativeSpawn): SlotProcess {
  const [program, ...args] = opts.argv;
  if (!program) throw new Error("empty command");
  const resolved = resolveProgram(program, opts.cwd, opts.env, opts.identity);
  const child = Bun.spawn([resolved.path, ...args], {
    cwd: opts.cwd,
    env: resolved.env,
    stdin: "ignore",
    stdout: opts.logFd,
    stderr: opts.logFd,
    detached: true,
    ...(opts.identity ? { uid: opts.identity.uid, gid: opts.identity.gid } : {}),
  });
  child.unref(); // a CLI that started it may exit; the app stays (SPEC §16.1)
  const pid = child.pid;
  const exited = child.exited.then(() => exitReason(child.exitCode, child.signalCode));
  return { pid, exited, terminate: (budgetMs) => terminateGroup(pid, budgetMs, exited) };
}

/** A slot process started earlier (by another soli-proxy or CLI run), known only by its pid. */
export function adoptPid(pid: number, pollMs = 200): SlotProcess {
  const exited = new Promise<string>((done) => {
    const timer = setInterval(() => {
      if (!processAlive(pid)) {
        clearInterval(timer);
        done("exited");
      }
    }, pollMs);
    (timer as { unref?: () => void }).unref?.();
  });
  return { pid, exited, terminate: (budgetMs) => terminateGroup(pid, budgetMs, null) };
}

export function exitReason(code: number | null, signal: string | number | null): string {
  if (typeof signal === "number") return `killed by signal ${signal}`;
  if (signal) return `killed by signal ${(constants.signals as Record<string, number>)[signal] ?? signal}`;
  return `exited with status ${code ?? "unknown"}`;
}

/** SIGTERM to the group, wait, SIGKILL when the budget is spent; resolves when the group is gone. */
export async function terminateGroup(pgid: number, budgetMs: number, exited: Promise<string> | null): Promise<void> {
  if (!groupAlive(pgid)) return;
  signalGroup(pgid, "SIGTERM");
  const deadline = Date.now() + budgetMs;
  while (groupAlive(pgid) && Date.now() < deadline) await Bun.sleep(25);
  if (groupAlive(pgid)) {
    signalGroup(pgid, "SIGKILL");
    const hard = Date.now() + 5000;
    while (groupAlive(pgid) && Date.now() < hard) await Bun.sleep(25);
  }
  if (exited) await Promise.race([exited, Bun.sleep(1000)]);
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

const HAS_PROC = existsSync("/proc/self/stat");

/** `[state, pgrp]` from /proc/<pid>/stat, or null when there is no such process. */
function procStat(pid: number | string): [string, number] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return [fields[0] ?? "", Number(fields[2])];
  } catch {
    return null;
  }
}

/** Whether the pid is a live process (zombies count as gone). */
export function processAlive(pid: number): boolean {
  if (HAS_PROC) {
    const stat = procStat(pid);
    return stat !== null && stat[0] !== "Z" && stat[0] !== "X";
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether any live process remains in the group. Zombies are skipped: an orphan is only reaped
 * by init, and until then it still "exists" for kill(-pgid, 0).
 */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  if (!HAS_PROC) return true;
  for (const entry of readdirSync("/proc")) {
    const c = entry.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const stat = procStat(entry);
    if (stat && stat[1] === pgid && stat[0] !== "Z" && stat[0] !== "X") return true;
  }
  return false;
}

/**
 * Whether a recorded pid still looks like a slot we started: alive and leading its own process
 * group (we start every slot with setsid). Guards against signalling a pid that was reused.
 */
export function looksLikeOurSlot(pid: number): boolean {
  if (!HAS_PROC) return processAlive(pid);
  const stat = procStat(pid);
  return stat !== null && stat[0] !== "Z" && stat[1] === pid;
}
