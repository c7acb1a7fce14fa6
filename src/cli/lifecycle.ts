/**
 * `soli-proxy deploy|restart|stop|logs <app>` (SPEC §16.1). With a proxy running, deploy,
 * restart and stop go through run/control.sock; without one (no socket, or nobody answers on it)
 * they run the blue/green algorithm in this process on the ./run state, leaving the app running
 * after the command exits. `logs` always reads the files.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { discoverApps } from "../apps/discover.ts";
import type { ProgressListener } from "../apps/deploy.ts";
import { AppError } from "../apps/errors.ts";
import { readFrom, slotLogPath } from "../apps/logs.ts";
import { createAppPort } from "../apps/port.ts";
import { Supervisor } from "../apps/supervisor.ts";
import type { AppTimings } from "../apps/timings.ts";
import { formatIssue, hasErrors } from "../config/issues.ts";
import { configFiles, validateSettingsText } from "../config/load.ts";
import { defaultSettings } from "../config/settings.ts";
import { createLogger } from "../lib/log.ts";
import { AppMetrics } from "../state/app-metrics.ts";
import { ControlClient } from "../control/client.ts";
import { UsageError } from "./args.ts";

export type LifecycleCommand = "deploy" | "restart" | "stop" | "logs";

export interface LifecycleOptions {
  command: LifecycleCommand;
  app: string | undefined;
  conf: string;
  sitesDir: string;
  dev: boolean;
  follow: boolean;
  out?: (text: string) => void;
  err?: (text: string) => void;
  /** Ends `logs --follow` (tests); otherwise it runs until the process is interrupted. */
  signal?: AbortSignal;
  /** Shorter health waits (tests). */
  timings?: Partial<AppTimings>;
}

export async function lifecycle(opts: LifecycleOptions): Promise<number> {
  const out = opts.out ?? ((text: string) => process.stdout.write(text));
  const err = opts.err ?? ((text: string) => process.stderr.write(text));
  const name = opts.app;
  if (!name) throw new UsageError(`${opts.command} needs an app name`);
  const files = configFiles(opts.conf);
  const runDir = join(files.dir, "run");
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

  const socket = join(runDir, "control.sock");
  if (await proxyAnswers(socket)) return viaControlSocket(socket, opts.command, name, out, err);
  return standalone(opts.command, name, { runDir, sitesDir, dev: opts.dev, toml: files.toml, timings: opts.timings }, out, err);
}

/**
 * The running proxy does the work (SPEC §16.1: POST /api/v1/apps/<app>/<action>, up to 600 s);
 * its error is printed as is, with no standalone fallback.
 */
async function viaControlSocket(socket: string, command: Exclude<LifecycleCommand, "logs">, app: string, out: (t: string) => void, err: (t: string) => void): Promise<number> {
  const client = new ControlClient(socket);
  try {
    const data = await client.post<{ slot?: string }>(`apps/${encodeURIComponent(app)}/${command}`, undefined, { timeoutMs: 600_000 });
    if (command === "stop") out(`${app} stopped successfully\n`);
    else out(`${app} ${command === "deploy" ? "deployed" : "restarted"} successfully (slot ${data.slot})\n`);
    return 0;
  } catch (e) {
    err(`Error: ${(e as Error).message}\n`);
    return 1;
  }
}

/** No proxy: discover, adopt what run/app_state.json says runs, run §14.7 here, update run/. */
async function standalone(
  command: Exclude<LifecycleCommand, "logs">,
  name: string,
  where: { runDir: string; sitesDir: string; dev: boolean; toml: string; timings?: Partial<AppTimings> | undefined },
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
  const supervisor = new Supervisor({ sitesDir: where.sitesDir, runDir: where.runDir, dev: where.dev, log, settings: () => settings.apps, standalone: true, timings: where.timings });
  supervisor.discover();
  supervisor.adoptRecorded();
  const apps = createAppPort(supervisor, new AppMetrics());
  const progress: ProgressListener = (a) => out(`  ${a.app} ${a.slot}: health check ${a.attempt}/${a.of} ${a.url}: ${a.error ?? `${a.status} OK`}\n`);
  try {
    if (command === "stop") {
      await apps.stop(name);
      out(`${name} stopped successfully\n`);
    } else {
      const result = command === "deploy" ? await apps.deploy(name, progress) : await apps.restart(name, progress);
      out(`${name} ${command === "deploy" ? "deployed" : "restarted"} successfully (slot ${result.slot})\n`);
    }
    return 0;
  } catch (e) {
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
