/**
 * `soli-proxy deploy|restart|rollback|stop|logs <app>` (SPEC §16.1). With a proxy running,
 * deploy, restart, rollback and stop go through run/control.sock, the first three as an SSE
 * stream of progress; without one (no socket, or nobody answers on it) they run the blue/green
 * algorithm in this process on the ./run state, leaving the app running after the command exits.
 * `logs` always reads the files.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { discoverApps } from "../apps/discover.ts";
import { AppError } from "../apps/errors.ts";
import { readFrom, slotLogPath } from "../apps/logs.ts";
import { createAppPort } from "../apps/app-port.ts";
import { Supervisor } from "../apps/supervisor.ts";
import type { AppTimings } from "../apps/timings.ts";
import { formatIssue, hasErrors } from "../config/issues.ts";
import { configFiles, validateSettingsText } from "../config/load.ts";
import { defaultSettings } from "../config/settings.ts";
import { createLogger } from "../lib/log.ts";
import { AppMetrics } from "../state/app-metrics.ts";
import { ControlClient, ControlLost } from "../control/client.ts";
import type { Progress } from "../apps/progress.ts";
import { progressView } from "./progress-view.ts";
import { locateRunDir } from "../lib/run-location.ts";
import { UsageError } from "./args.ts";

export type LifecycleCommand = "deploy" | "restart" | "rollback" | "stop" | "logs";
type SwitchCommand = "deploy" | "restart" | "rollback";

/** The success line of each command (SPEC §16.1). */
const DONE: Record<SwitchCommand, string> = { deploy: "deployed", restart: "restarted", rollback: "rolled back" };

export interface LifecycleOptions {
  command: LifecycleCommand;
  app: string | undefined;
  conf: string;
  sitesDir: string;
  /** --run-dir, when given. */
  runDir?: string | null;
  dev: boolean;
  follow: boolean;
  out?: (text: string) => void;
  err?: (text: string) => void;
  /** Ends `logs --follow` (tests); otherwise it runs until the process is interrupted. */
  signal?: AbortSignal;
  /** Shorter health waits (tests). */
  timings?: Partial<AppTimings>;
  /** Draw a live status line (default: stdout is a terminal and `out` is stdout). */
  terminal?: boolean;
  /** Ctrl-C: stop waiting, leave the operation running in the proxy (default: SIGINT). */
  detach?: AbortSignal;
}

export async function lifecycle(opts: LifecycleOptions): Promise<number> {
  const out = opts.out ?? ((text: string) => process.stdout.write(text));
  const err = opts.err ?? ((text: string) => process.stderr.write(text));
  const name = opts.app;
  if (!name) throw new UsageError(`${opts.command} needs an app name`);
  const files = configFiles(opts.conf);
  const runDir = locateRunDir(files.conf, opts.runDir);
  const sitesDir = resolve(opts.sitesDir);

  const found = discoverApps(sitesDir);
  const entry = found.apps.find((a) => (a.infos.name ?? a.dir) === name);
  if (!entry) {
    for (const issue of found.issues) if (issue.severity === "error" && issue.file.startsWith(join(sitesDir, name))) err(`${formatIssue(issue)}\n`);
    const known = found.apps.map((a) => a.infos.name ?? a.dir);
    err(`Error: app '${name}' not found in ${sitesDir}\n`);
    err(known.length > 0 ? `Known apps: ${known.join(", ")}\n` : "No apps found.\n");
    return 1;
  }

  if (opts.command === "logs") return printLogs(runDir, name, opts.follow, out, opts.signal);

  const terminal = opts.terminal ?? (opts.out === undefined && process.stdout.isTTY === true);
  const socket = join(runDir, "control.sock");
  if (await proxyAnswers(socket)) {
    if (opts.command === "stop") return stopViaControlSocket(socket, name, out, err);
    return withDetach(opts.detach, (detach) => switchViaControlSocket(socket, opts.command as SwitchCommand, name, { out, err, terminal, detach }));
  }
  return standalone(opts.command, name, { runDir, sitesDir, dev: opts.dev, toml: files.toml, timings: opts.timings, terminal }, out, err);
}

/** Ctrl-C detaches instead of killing the CLI mid-line (SPEC §16.1); tests pass their own signal. */
async function withDetach(given: AbortSignal | undefined, work: (detach: AbortSignal) => Promise<number>): Promise<number> {
  if (given) return work(given);
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.on("SIGINT", onSigint);
  try {
    return await work(controller.signal);
  } finally {
    process.off("SIGINT", onSigint);
  }
}

/** `stop` through the running proxy; its error is printed as is, with no standalone fallback. */
async function stopViaControlSocket(socket: string, app: string, out: (t: string) => void, err: (t: string) => void): Promise<number> {
  try {
    await new ControlClient(socket).post(`apps/${encodeURIComponent(app)}/stop`, undefined, { timeoutMs: 600_000 });
    out(`${app} stopped successfully\n`);
    return 0;
  } catch (e) {
    err(`Error: ${(e as Error).message}\n`);
    return 1;
  }
}

/**
 * deploy, restart, rollback through the running proxy (SPEC §16.1: up to 600 s), as an SSE
 * stream whose progress events are shown as they come. Its error is printed as is, with no
 * standalone fallback; Ctrl-C leaves the operation running and says so.
 */
async function switchViaControlSocket(
  socket: string,
  command: SwitchCommand,
  app: string,
  io: { out: (t: string) => void; err: (t: string) => void; terminal: boolean; detach: AbortSignal },
): Promise<number> {
  const view = progressView(app, io.out, io.terminal);
  const signal = AbortSignal.any([io.detach, AbortSignal.timeout(600_000)]);
  try {
    const data = await new ControlClient(socket).postStream<{ slot?: string }>(
      `apps/${encodeURIComponent(app)}/${command}`,
      (e) => {
        if (e.event === "progress") view.show(e.data as Progress);
      },
      signal,
    );
    view.end();
    io.out(`${app} ${DONE[command]} successfully (slot ${data.slot})\n`);
    return 0;
  } catch (e) {
    view.end();
    if (io.detach.aborted) {
      io.err(`Detached: the ${command} of ${app} goes on in the proxy; follow it with 'soli-proxy logs ${app} --follow' or the TUI.\n`);
      return 0;
    }
    if (signal.aborted) {
      io.err(`Error: no outcome after 600 s; the ${command} of ${app} may still be running in the proxy\n`);
      return 1;
    }
    const hint = e instanceof ControlLost ? ` (the ${command} of ${app} may still be running; see 'soli-proxy logs ${app}')` : "";
    io.err(`Error: ${(e as Error).message}${hint}\n`);
    return 1;
  }
}

/** No proxy: discover, adopt what run/app_state.json says runs, run §14.7 here, update run/. */
async function standalone(
  command: Exclude<LifecycleCommand, "logs">,
  name: string,
  where: { runDir: string; sitesDir: string; dev: boolean; toml: string; timings?: Partial<AppTimings> | undefined; terminal: boolean },
  out: (t: string) => void,
  err: (t: string) => void,
): Promise<number> {
  let settings = defaultSettings();
  if (existsSync(where.toml)) {
    const checked = validateSettingsText(readFileSync(where.toml, "utf8"), where.toml);
    if (hasErrors(checked.issues) || !checked.settings) {
      for (const issue of checked.issues) err(`${formatIssue(issue)}\n`);
      return 1;
    }
    settings = checked.settings;
  }
  const log = createLogger({ level: "warn", format: "text", output: "stderr" });
  const supervisor = new Supervisor({
    sitesDir: where.sitesDir,
    runDir: where.runDir,
    dev: where.dev,
    log,
    settings: () => settings.apps,
    standalone: true,
    timings: where.timings,
  });
  supervisor.discover();
  supervisor.adoptRecorded();
  const apps = createAppPort(supervisor, new AppMetrics());
  const view = progressView(name, out, where.terminal);
  try {
    if (command === "stop") {
      await apps.stop(name);
      out(`${name} stopped successfully\n`);
    } else {
      const result = await apps[command](name, (p) => view.show(p));
      view.end();
      out(`${name} ${DONE[command]} successfully (slot ${result.slot})\n`);
    }
    return 0;
  } catch (e) {
    view.end();
    err(`Error: ${e instanceof AppError ? e.message : (e as Error).message}\n`);
    return 1;
  }
}

/** Both slot logs with headers (SPEC §16.1); `--follow` keeps printing what they get. */
async function printLogs(runDir: string, app: string, follow: boolean, out: (t: string) => void, signal?: AbortSignal): Promise<number> {
  const offsets = { blue: 0, green: 0 };
  let last: "blue" | "green" | null = null;
  const show = (slot: "blue" | "green", always: boolean) => {
    const next = readFrom(slotLogPath(runDir, app, slot), offsets[slot]);
    offsets[slot] = next.offset;
    if (!always && next.text === "") return;
    if (last !== slot || always) out(`=== ${app} (${slot}) ===\n`);
    last = slot;
    if (next.text !== "") out(always && !next.text.endsWith("\n") ? `${next.text}\n` : next.text);
  };
  show("blue", true);
  show("green", true);
  if (!follow) return 0;
  while (!signal?.aborted) {
    await Bun.sleep(250);
    show("blue", false);
    show("green", false);
  }
  return 0;
}

/** Whether a proxy listens on the control socket (a stale socket file refuses). */
function proxyAnswers(socket: string): Promise<boolean> {
  if (!existsSync(socket)) return Promise.resolve(false);
  return new Promise((done) => {
    Bun.connect({
      unix: socket,
      socket: {
        open(s) {
          s.end();
          done(true);
        },
        data() {},
        connectError() {
          done(false);
        },
        error() {
          done(false);
        },
      },
    }).catch(() => done(false));
  });
}
