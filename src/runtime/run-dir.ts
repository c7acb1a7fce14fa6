/**
 * run/ beside proxy.conf (SPEC §1, §15.2): mode 0700, holding control.sock and proxy.pid. A live
 * control socket means another proxy runs on this config: starting a second one would fight it
 * for the socket and the state files, so start-up stops with a clear error.
 */
import { chmodSync, mkdirSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";

export interface RunDir {
  readonly dir: string;
  readonly socket: string;
  readonly pidFile: string;
}

/** The files of a run dir (its place comes from lib/run-location.ts). */
export function runDirFor(dir: string): RunDir {
  return { dir, socket: join(dir, "control.sock"), pidFile: join(dir, "proxy.pid") };
}

/**
 * Creates run/ (0700) and removes a stale socket; throws when another proxy answers on it. A run/
 * that cannot be created (read-only config dir) is not fatal: the proxy then runs without a
 * control socket, which is logged when the socket fails to open.
 */
export async function claimRunDir(run: RunDir, checkSocket = true): Promise<void> {
  try {
    statSync(run.dir);
  } catch {
    try {
      mkdirSync(run.dir, { recursive: true, mode: 0o700 });
      chmodSync(run.dir, 0o700); // mkdir's mode is filtered by the umask
    } catch {
      return;
    }
  }
  if (!checkSocket) return; // a hitless upgrade: the old primary hands its socket over (SPEC §15.5)
  if (await socketAnswers(run.socket)) throw new Error("another soli-proxy is running (run/control.sock)");
  try {
    rmSync(run.socket, { force: true });
  } catch {}
}

/** Whether something accepts connections on the unix socket (1 s at most). */
export function socketAnswers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(path);
    const done = (live: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(live);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}
