/**
 * `soli-proxy -d` (SPEC §15.3): replaces a daemon already running on this run/ directory, starts
 * the same command without -d in a new session with its output appended to run/logs/proxy.log,
 * and waits until that child is ready. Exit 0 once it is, 1 with the end of its log otherwise.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { isAlive, looksLikeSoliProxy, pidFilePath, readPidFile } from "../runtime/pidfile.ts";
import { locateRunDir } from "../lib/run-location.ts";
import { selfCommand } from "../lib/executable.ts";
import { socketAnswers } from "../runtime/run-dir.ts";
import { formatIssue, hasErrors, sortIssues } from "../config/issues.ts";
import { configFiles, loadConfig } from "../config/load.ts";
import { VALUE_FLAGS } from "./args.ts";

export interface DaemonOptions {
  conf: string;
  /** --run-dir, when given. */
  runDir?: string | null;
  /** The command line as given (without the program), -d included. */
  argv: readonly string[];
  out?: (line: string) => void;
  err?: (line: string) => void;
  /** How long the child gets to become ready (SPEC: 15 s). */
  readyTimeoutMs?: number;
  /** How long a replaced daemon gets after SIGTERM before SIGKILL (SPEC: 10 s). */
  stopTimeoutMs?: number;
}

const TAIL_LINES = 20;

export async function daemon(opts: DaemonOptions): Promise<number> {
  const out = opts.out ?? ((line: string) => console.log(line));
  const err = opts.err ?? ((line: string) => console.error(line));
  const confPath = resolve(opts.conf);
  if (!existsSync(confPath)) throw new Error(`config file '${opts.conf}' not found`);
  const runDir = locateRunDir(confPath, opts.runDir);
  const logDir = join(runDir, "logs");
  mkdirSync(logDir, { recursive: true, mode: 0o700 });
  const logPath = join(logDir, "proxy.log");

  // Validate before touching the running daemon: a configuration the new one would refuse must
  // not take down the one that serves (start-up's own checks, SPEC §2 and §16.2).
  const loaded = loadConfig(configFiles(confPath));
  if (hasErrors(loaded.issues)) {
    for (const issue of sortIssues(loaded.issues)) err(formatIssue(issue));
    const running = readPidFile(runDir);
    err(
      `Error: the configuration has errors; ${running !== null && isAlive(running) ? `the running daemon (PID ${running}) is left alone` : "no daemon started"}`,
    );
    return 1;
  }

  await stopExisting(runDir, out, opts.stopTimeoutMs ?? 10_000);

  const logStart = fileSize(logPath);
  const logFd = openSync(logPath, "a", 0o600);
  let child;
  try {
    child = Bun.spawn(selfCommand(withoutDaemonFlag(opts.argv)), {
      cwd: process.cwd(),
      env: process.env,
      detached: true, // setsid: the daemon outlives this process and its terminal
      stdin: "ignore",
      stdout: logFd,
      stderr: logFd,
    });
  } finally {
    closeSync(logFd); // the child has its own copy
  }
  child.unref();

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 15_000);
  let failure: string | null = null;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      failure = `daemon exited (${child.signalCode ?? `code ${child.exitCode}`}) before it was ready`;
      break;
    }
    if (await daemonReady(runDir, child.pid)) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL"); // neither ready nor dead: do not leave an unaccounted process behind
      failure = `daemon did not become ready within ${Math.round((opts.readyTimeoutMs ?? 15_000) / 1000)} s and was killed`;
      break;
    }
    await Bun.sleep(25);
  }
  if (failure) {
    const tail = logTail(logPath, logStart, TAIL_LINES);
    err(`Error: ${failure}; last lines of ${logPath}:`);
    err(tail.length > 0 ? tail.join("\n") : "(nothing was logged)");
    return 1;
  }
  out(`soli-proxy running as daemon (PID ${child.pid})`);
  return 0;
}

/**
 * Whether the child is up (SPEC §15.3): it writes run/proxy.pid once its listeners and control
 * socket are up, and the control socket answers. A proxy whose run/ cannot hold a socket is
 * ready on its pid file alone.
 */
async function daemonReady(runDir: string, pid: number): Promise<boolean> {
  if (readPidFile(runDir) !== pid) return false;
  const socket = join(runDir, "control.sock");
  return !existsSync(socket) || (await socketAnswers(socket, 500));
}

/** SIGTERM the daemon named by run/proxy.pid, SIGKILL it after `timeoutMs`, and wait until it is gone. */
async function stopExisting(runDir: string, out: (line: string) => void, timeoutMs: number): Promise<void> {
  const pid = readPidFile(runDir);
  if (pid === null || pid === process.pid || !looksLikeSoliProxy(pid)) return;
  out(`Stopping existing daemon (PID: ${pid})...`);
  signal(pid, "SIGTERM", runDir);
  if (await exitedWithin(pid, timeoutMs)) return;
  signal(pid, "SIGKILL", runDir);
  if (!(await exitedWithin(pid, 5_000))) throw new Error(`daemon PID ${pid} (${pidFilePath(runDir)}) did not exit after SIGKILL`);
}

function signal(pid: number, name: NodeJS.Signals, runDir: string): void {
  try {
    process.kill(pid, name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return; // exited meanwhile
    throw new Error(`cannot stop the daemon PID ${pid} named in ${pidFilePath(runDir)}: ${(err as Error).message}`);
  }
}

async function exitedWithin(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await Bun.sleep(25);
  }
  return true;
}

/** The command line without -d/--daemon, leaving option values alone (`-c -d` names a file "-d"). */
export function withoutDaemonFlag(argv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (VALUE_FLAGS.has(token) && i + 1 < argv.length) {
      kept.push(token, argv[++i]!);
      continue;
    }
    if (token === "-d" || token === "--daemon") continue;
    kept.push(token);
  }
  return kept;
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** The last `count` lines written to `path` after byte `from`. */
function logTail(path: string, from: number, count: number): string[] {
  let text: string;
  try {
    text = readFileSync(path).subarray(from).toString("utf8");
  } catch {
    return [];
  }
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.slice(-count);
}
