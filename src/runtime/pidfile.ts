/**
 * run/proxy.pid (SPEC §1, §15.3): the running proxy's PID, written once its listeners are up and
 * removed when it exits. The daemon launcher reads it to find the daemon it replaces, and waits
 * for its child's PID to appear in it.
 */
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../lib/atomic-write.ts";

/** `<run dir>/proxy.pid`; the run dir is found by lib/run-location.ts. */
export function pidFilePath(runDir: string): string {
  return join(runDir, "proxy.pid");
}

/**
 * Writes this process's PID; returns a function that removes the file if it still names us (after
 * a hitless upgrade it names the new primary, which the old one must leave alone, SPEC §15.5).
 */
export function writePidFile(runDir: string, pid = process.pid): () => void {
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const path = pidFilePath(runDir);
  writeFileAtomic(path, `${pid}\n`);
  return () => {
    if (readPidFile(runDir) === pid) rmSync(path, { force: true });
  };
}

/** The PID in run/proxy.pid, or null when the file is missing or holds no PID. */
export function readPidFile(runDir: string): number | null {
  let text: string;
  try {
    text = readFileSync(pidFilePath(runDir), "utf8");
  } catch {
    return null;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** Whether a process with this PID runs (signal 0 checks without sending anything; a zombie is dead). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false; // EPERM: exists, someone else's
  }
  try {
    // "pid (comm) S …": the state letter follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true; // no procfs (macOS)
  }
}

/**
 * Whether `pid` is plausibly a soli-proxy: a pid file left behind by a crash or a reboot may name
 * an unrelated process that reused the PID, which must not be killed. On Linux its command line
 * must mention soli-proxy (the executable) or main.ts (run from source); elsewhere any live
 * process counts.
 */
export function looksLikeSoliProxy(pid: number): boolean {
  if (!isAlive(pid)) return false;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return true; // no procfs (macOS) or not readable: trust the pid file
  }
  return cmdline.split("\0").some((arg) => /soli-proxy|main\.ts$/.test(arg));
}
