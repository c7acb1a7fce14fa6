/**
 * Temporary projects (proxy.conf, config.toml, sites/) and proxies started on them, on port 0.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createLogger, type Logger } from "../../src/lib/log.ts";
import { startProxy, type ProxyHandle, type ProxyOptions } from "../../src/runtime/runtime.ts";

export interface TempProject extends Disposable {
  readonly dir: string;
  readonly conf: string;
  readonly toml: string;
  write(relative: string, text: string): string;
  remove(): void;
}

export function tempProject(files: Record<string, string> = {}): TempProject {
  const dir = mkdtempSync(join(tmpdir(), "soli-test-"));
  const write = (relative: string, text: string) => {
    const path = join(dir, relative);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    return path;
  };
  for (const [name, text] of Object.entries(files)) write(name, text);
  const remove = () => rmSync(dir, { recursive: true, force: true });
  return { dir, conf: join(dir, "proxy.conf"), toml: join(dir, "config.toml"), write, remove, [Symbol.dispose]: remove };
}

/**
 * config.toml for tests: every listener on a free loopback port, one process, admin off, short
 * shutdown grace. `server` adds keys to [server]; `extra` appends whole tables.
 */
export function testToml(extra = "", server = ""): string {
  return `[server]\nbind = "127.0.0.1:0"\nhttps_port = 0\nworker_threads = 1\nshutdown_grace_period = 1\n${server}\n\n[admin]\nenabled = false\n\n${extra}`;
}

export interface TestProxy extends AsyncDisposable {
  readonly handle: ProxyHandle;
  readonly project: TempProject;
  /** `http://127.0.0.1:<port>` of the plain listener. */
  readonly url: string;
  readonly httpsUrl: string;
  readonly logFile: string;
  /** Log lines written so far, parsed. */
  logs(): Record<string, unknown>[];
  stop(): Promise<void>;
}

/**
 * Starts a proxy in this process on a temp project. `toml` is appended to the test defaults;
 * `[section]` tables given there must not repeat the defaults' tables (server, admin).
 */
export async function startTestProxy(
  conf: string,
  opts: { toml?: string; server?: string; rawToml?: string; dev?: boolean; watch?: boolean; files?: Record<string, string> } = {},
): Promise<TestProxy> {
  const project = tempProject({ "proxy.conf": conf, "config.toml": opts.rawToml ?? testToml(opts.toml, opts.server), ...opts.files });
  return startOnProject(project, { dev: opts.dev, watch: opts.watch });
}

/**
 * Starts a proxy in this process on an existing temp project, logging JSON to proxy.log in it;
 * stopping it removes the project. `options` go to startProxy (defaults: no watch, sites/ of the
 * project).
 */
export async function startOnProject(project: TempProject, options: Partial<Omit<ProxyOptions, "confPath" | "logger">> = {}): Promise<TestProxy> {
  const logFile = join(project.dir, "proxy.log");
  const logger: Logger = createLogger({ level: "debug", format: "json", output: `file:${logFile}` });
  let handle: ProxyHandle;
  try {
    handle = await startProxy({
      sitesDir: join(project.dir, "sites"),
      ...options,
      dev: options.dev ?? false,
      watch: options.watch ?? false,
      confPath: project.conf,
      logger,
    });
  } catch (err) {
    project.remove();
    throw err;
  }
  const stop = async () => {
    await handle.shutdown();
    project.remove();
  };
  return {
    handle,
    project,
    url: `http://127.0.0.1:${handle.http.port}`,
    httpsUrl: `https://127.0.0.1:${handle.https?.port}`,
    logFile,
    logs: () => readLogLines(logFile),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

export function readLogLines(file: string): Record<string, unknown>[] {
  let text = "";
  try {
    text = require("node:fs").readFileSync(file, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((l: string) => l.trim() !== "")
    .map((l: string) => JSON.parse(l) as Record<string, unknown>);
}
