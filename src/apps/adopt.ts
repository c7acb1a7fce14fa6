/**
 * Adoption at start-up (SPEC §14.7): a slot process recorded in app_state.json that is still
 * alive, still this app's command, and answers its health check is kept running, routed to at
 * once and supervised without being our child. That is how apps outlive the proxy: a hitless
 * upgrade (§15.5), a crash or a SIGKILL of the proxy leaves them running, and the next proxy takes
 * them over instead of restarting them.
 *
 * - Exit: an adopted process is not our child, so its end is seen by polling its pid (process.ts
 *   adoptPid).
 * - Logs: every native slot was started with stdout and stderr on its own O_APPEND descriptor of
 *   run/logs/<app>/<slot>.log (process.ts spawnNative), not on a pipe to the proxy, so it keeps
 *   writing there whoever supervises it; rotation copies and truncates the file (logs.ts).
 * - Safety: a pid may have been reused by another program since it was recorded. A pid is only
 *   adopted or signalled when it leads its own process group (every slot is started with setsid)
 *   and its /proc/<pid>/cmdline is the app's command (the start_script's argv with $PORT and
 *   $WORKERS of that slot), started with that slot's PORT. Anything else is left alone with a
 *   warning.
 */
import { readFileSync, realpathSync } from "node:fs";
import { basename } from "node:path";
import type { Logger } from "../lib/log.ts";
import { scriptArgv } from "./command.ts";
import { SLOTS, type AppConfig, type Slot } from "./config.ts";
import { healthUrl, probe } from "./health.ts";
import type { ManagedApp } from "./managed.ts";
import { appEnv, looksLikeOurSlot, resolveProgram } from "./process.ts";
import type { SlotRunner } from "./slots.ts";
import type { AppRecord } from "./state-files.ts";

/** SPEC §14.7: a recorded process must answer its health check with a 2xx within 5 s. */
export const ADOPT_HEALTH_TIMEOUT_MS = 5000;

/**
 * Why `pid` is not the process of this app slot, or null when it is: alive, leading its own
 * process group, and running the slot's command. Without /proc (macOS) only the first two hold.
 */
export function notOurApp(pid: number, config: AppConfig, port: number): string | null {
  if (!looksLikeOurSlot(pid)) return "is not running (or does not lead its own process group)";
  if (!config.startScript) return "belongs to an app without a start_script";
  let cmdline: string[];
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return null; // no procfs: the process group check is all there is
  }
  if (cmdline.at(-1) === "") cmdline.pop();
  const expected = scriptArgv(config.startScript, { port, workers: config.workers });
  const same =
    cmdline.length === expected.length &&
    programNames(expected[0] ?? "", config.dir).has(basename(cmdline[0] ?? "")) &&
    cmdline.slice(1).every((arg, i) => arg === expected[i + 1]);
  if (!same) return `now runs '${cmdline.join(" ").slice(0, 120)}', not the app's command '${expected.join(" ")}'`;
  // Two apps (or both slots of one) may share a command line; the PORT each was started with does not.
  const started = startedWithPort(pid);
  return started === null || started === port ? null : `runs the app's command for port ${started}, not this slot's port ${port}`;
}

/** PORT in the environment the process was started with, or null when it cannot be read. */
function startedWithPort(pid: number): number | null {
  try {
    const entry = readFileSync(`/proc/${pid}/environ`, "utf8")
      .split("\0")
      .find((e) => e.startsWith("PORT="));
    return entry ? Number(entry.slice(5)) : null;
  } catch {
    return null;
  }
}

/**
 * The names argv[0] of the slot process may have: the script's program as written, as resolved
 * on PATH at spawn (process.ts resolveProgram), and that file's real name (`bun` is often a
 * symlink to `bun.exe`). Every argument after it must be the script's, exactly.
 */
function programNames(program: string, cwd: string): Set<string> {
  const names = new Set([basename(program)]);
  try {
    const resolved = resolveProgram(program, cwd, appEnv(0, 1, null)).path;
    names.add(basename(resolved));
    names.add(basename(realpathSync(resolved)));
  } catch {
    // not resolvable now: the name as written is all there is
  }
  return names;
}

export interface AdoptionHooks {
  runner: SlotRunner;
  log: Logger;
}

/**
 * Adopts what `record` says runs for `app`, both slots, in parallel. A slot that is ours but does
 * not answer in time is stopped; one that is not ours is never touched. Afterwards the current
 * slot is the adopted one when only the other slot was adopted. Returns the adopted slots.
 */
export async function adoptApp(app: ManagedApp, record: AppRecord, hooks: AdoptionHooks): Promise<Slot[]> {
  app.currentSlot = record.current_slot;
  app.stopped = record.stopped;
  const adopted = (await Promise.all(SLOTS.map(async (slot) => ((await adoptSlot(app, slot, record, hooks)) ? slot : null)))).filter(
    (s): s is Slot => s !== null,
  );
  if (adopted.length === 1 && adopted[0] !== app.currentSlot) app.currentSlot = adopted[0]!;
  return adopted;
}

async function adoptSlot(app: ManagedApp, slot: Slot, record: AppRecord, hooks: AdoptionHooks): Promise<boolean> {
  const { pid, status } = record[slot];
  const state = app.slots[slot];
  const where = { app: app.name, slot, pid };
  if (app.config.docker) {
    // A container is known by its name (SPEC §14.5); its health decides like a process's.
    if (!hooks.runner.adopt(app, slot, pid, status)) return false;
  } else {
    if (pid === null) return false;
    const problem = notOurApp(pid, app.config, state.port);
    if (problem !== null) {
      if (looksLikeOurSlot(pid)) hooks.log.warn(where, `${app.name} slot ${slot}: recorded PID ${pid} ${problem}; not adopted and not signalled`);
      return false;
    }
    if (!hooks.runner.adopt(app, slot, pid, status)) return false;
  }
  const result = await probe(healthUrl(state.port, app.config.healthCheck), ADOPT_HEALTH_TIMEOUT_MS);
  if (result.answered && result.status >= 200 && result.status < 300) {
    state.status = "Running";
    hooks.log.info({ ...where, port: state.port }, `adopted ${app.name} slot ${slot} (PID ${pid}) still running from an earlier soli-proxy`);
    return true;
  }
  const why = result.answered ? `answered ${result.status}` : result.error;
  hooks.log.info({ ...where, err: why }, `stopping ${app.name} slot ${slot} left from an earlier run: its health check ${why}`);
  await hooks.runner.stop(app, slot); // SIGTERM to its group, SIGKILL after graceful_timeout
  return false;
}
