/**
 * Hitless upgrade by re-exec (SPEC §15.5), both ends of the handover. The old primary starts the
 * executable now on disk with its own arguments and the environment mark UPGRADE_ENV; the two
 * talk over Bun's IPC channel:
 *
 *   new → old  {t:"listening"}            config valid, proxy listeners bound beside the old ones
 *   old → new  {t:"released"}             admin port and control socket closed, apps no longer supervised
 *   new → old  {t:"ready", pid, version}  admin and socket taken over, apps adopted, pid file written
 *   new → old  {t:"failed", error}        anything before that went wrong (the new one then exits 1)
 *
 * Nothing but "ready" within 30 s, a failure or an exit ⇒ the old primary kills the new one's
 * process group (its workers with it; apps run in sessions of their own), takes its admin port and
 * socket back, resumes supervising and keeps serving; the error goes to the log and the caller.
 */
import type { Subprocess } from "bun";
import { selfCommand } from "../lib/executable.ts";
import type { AppRouteInput } from "../config/compile.ts";
import type { Logger } from "../lib/log.ts";

/** Set (JSON of UpgradeMark) in the new primary's environment; reserved prefix of SPEC §2. */
export const UPGRADE_ENV = "SOLI_PROXY_INTERNAL_UPGRADE";

/**
 * What the old primary hands the new one: who it is, the ports it really bound (port 0 resolved),
 * and its app routing table, so the new listeners route to the running apps from their first
 * request on, before adoption confirms them (a request must never see an app missing).
 */
export interface UpgradeMark {
  from: number;
  http: number;
  https: number | null;
  admin: number | null;
  routes: AppRouteInput[];
}

export type UpgradeMessage = { t: "listening" } | { t: "released" } | { t: "ready"; pid: number; version: string } | { t: "failed"; error: string };

export const READY_TIMEOUT_MS = 30_000;

/** Tests shorten the 30 s of SPEC §15.5 step 3 with this (reserved prefix, SPEC §2); ms. */
export const READY_TIMEOUT_ENV = "SOLI_PROXY_INTERNAL_UPGRADE_READY_MS";

export function readyTimeoutMs(env: Record<string, string | undefined> = process.env): number {
  const ms = Number(env[READY_TIMEOUT_ENV]);
  return Number.isInteger(ms) && ms > 0 ? ms : READY_TIMEOUT_MS;
}

/** The old primary's side: what it does when the new one asks for the admin doors, or fails. */
export interface HandoverHooks {
  argv: readonly string[];
  mark: Omit<UpgradeMark, "from">;
  log: () => Logger;
  /** Close admin.bind and the control socket (in-flight admin requests finish); stop supervising apps. */
  release(): void;
  /** The new primary failed after release: reopen them and supervise again. */
  resume(): void;
  readyTimeoutMs?: number;
}

/** Starts the new primary and waits for it; rejects with why it did not take over. */
export function startSuccessor(hooks: HandoverHooks): Promise<{ pid: number; version: string }> {
  const log = hooks.log();
  const mark: UpgradeMark = { from: process.pid, ...hooks.mark };
  return new Promise((resolve, reject) => {
    let released = false;
    let settled = false;
    let child: Subprocess;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      killGroup(child.pid);
      if (released) hooks.resume();
      log.error({ pid: child.pid, err: why }, `upgrade failed, this proxy keeps serving: ${why}`);
      reject(new Error(why));
    };
    try {
      child = Bun.spawn(selfCommand(hooks.argv), {
        env: { ...process.env, [UPGRADE_ENV]: JSON.stringify(mark) },
        cwd: process.cwd(),
        // Its own session: outlives this process, and a signal meant for this one's group misses it.
        detached: true,
        stdin: "ignore",
        stdout: "inherit",
        stderr: "inherit",
        ipc(message: UpgradeMessage) {
          if (settled) return;
          if (message.t === "listening") {
            log.info({ pid: child.pid }, "new primary is listening; handing over the admin port, control socket and apps");
            hooks.release();
            released = true;
            child.send({ t: "released" } satisfies UpgradeMessage);
          } else if (message.t === "ready") {
            settled = true;
            clearTimeout(timer);
            child.unref();
            child.disconnect();
            log.info(
              { pid: message.pid, version: message.version },
              `new primary ${message.pid} (soli-proxy ${message.version}) is ready; draining and exiting`,
            );
            resolve({ pid: message.pid, version: message.version });
          } else if (message.t === "failed") {
            fail(message.error);
          }
        },
      });
    } catch (err) {
      reject(new Error(`cannot start ${selfCommand([])[0]}: ${(err as Error).message}`));
      return;
    }
    const timeoutMs = hooks.readyTimeoutMs ?? READY_TIMEOUT_MS;
    const timer = setTimeout(() => fail(`the new primary (PID ${child.pid}) was not ready within ${Math.round(timeoutMs / 1000)} s and was killed`), timeoutMs);
    // A "failed" message sent just before the exit says more than the exit code: let it arrive first.
    void child.exited.then((code) =>
      setTimeout(() => fail(`the new primary (PID ${child.pid}) exited with ${child.signalCode ?? `code ${code}`} before it was ready`), 100),
    );
  });
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL"); // it leads its own session: it and its workers, never the apps
  } catch {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
}

/** The routes of the mark that have the AppRouteInput shape (checked like any input); others are dropped. */
function validRoutes(value: unknown): AppRouteInput[] {
  if (!Array.isArray(value)) return [];
  return value.filter(
    (r): r is AppRouteInput =>
      typeof r?.name === "string" &&
      Array.isArray(r.hosts) &&
      r.hosts.every((h: unknown) => typeof h === "string") &&
      (r.port === null || (Number.isInteger(r.port) && r.port > 0 && r.port < 65536)),
  );
}

/** The new primary's side, present when UPGRADE_ENV was set. */
export class Successor {
  private released: Promise<void>;
  private onReleased: () => void = () => {};

  constructor(readonly mark: UpgradeMark) {
    this.released = new Promise<void>((resolve) => (this.onReleased = resolve));
    process.on("message", (message: UpgradeMessage) => {
      if (message?.t === "released") this.onReleased();
    });
  }

  /** The mark in the environment (removed from it, so nothing this process starts inherits it). */
  static fromEnv(env: Record<string, string | undefined> = process.env): Successor | null {
    const text = env[UPGRADE_ENV];
    if (text === undefined) return null;
    delete env[UPGRADE_ENV];
    let mark: UpgradeMark;
    try {
      mark = JSON.parse(text) as UpgradeMark;
    } catch {
      return null;
    }
    if (!Number.isInteger(mark?.from) || !Number.isInteger(mark.http) || typeof process.send !== "function") return null;
    return new Successor({ ...mark, routes: validRoutes(mark.routes) });
  }

  /** Proxy listeners are up: ask for the admin port and socket; resolves once the old one let them go. */
  async handover(timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    this.send({ t: "listening" });
    const timer = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error("the old primary did not release the admin port and control socket")), timeoutMs).unref?.(),
    );
    await Promise.race([this.released, timer]);
  }

  ready(version: string): void {
    this.send({ t: "ready", pid: process.pid, version }); // the old primary closes the channel
  }

  failed(error: string): void {
    this.send({ t: "failed", error });
  }

  private send(message: UpgradeMessage): void {
    try {
      process.send?.(message);
    } catch {
      // the old primary is gone: nothing to tell
    }
  }
}
