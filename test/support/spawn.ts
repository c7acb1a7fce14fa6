/**
 * The proxy as a real child process (`bun src/main.ts …`), for what needs its own process:
 * signals, exit codes, environment such as NODE_EXTRA_CA_CERTS.
 */
import type { Subprocess } from "bun";
import { dirname, join } from "node:path";

export const ROOT = join(import.meta.dir, "..", "..");
export const MAIN = join(ROOT, "src", "main.ts");

export interface SpawnedProxy extends AsyncDisposable {
  readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  readonly http: number;
  readonly https: number;
  /** The `soli-proxy listening` log line, parsed (http, https, admin, dev, workers, …). */
  readonly listening: Record<string, unknown>;
  /** stdout so far (JSON log lines). */
  output(): string;
  /** stderr so far. */
  errors(): string;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/** Runs the CLI to completion; returns exit code, stdout and stderr. */
export async function runCli(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; stdin?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([process.execPath, MAIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    stdin: opts.stdin !== undefined ? new Blob([opts.stdin]) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/**
 * Starts the proxy on a project dir and waits for its "listening" log line. `exe` runs a compiled
 * executable instead of `bun src/main.ts`; `env` then replaces the environment instead of adding to it.
 */
export async function spawnProxy(
  confPath: string,
  opts: {
    env?: Record<string, string>;
    args?: string[];
    cwd?: string;
    exe?: string /** no --sites-dir: the default beside proxy.conf */;
    defaultSitesDir?: boolean;
  } = {},
): Promise<SpawnedProxy> {
  const program = opts.exe ? [opts.exe] : [process.execPath, MAIN];
  // The project's own sites dir, never the repository's: a spawned proxy starts the apps it finds.
  const sites = opts.args?.includes("--sites-dir") || opts.defaultSitesDir ? [] : ["--sites-dir", join(dirname(confPath), "sites")];
  const proc = Bun.spawn([...program, "-c", confPath, ...sites, ...(opts.args ?? [])], {
    cwd: opts.cwd ?? ROOT,
    env: opts.exe && opts.env ? opts.env : { ...process.env, ...opts.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  let err = "";
  const decoder = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>, sink: (s: string) => void) => {
    for await (const chunk of stream) sink(decoder.decode(chunk));
  };
  // Settles on the "listening" line (a complete one), or with null on exit or after 15 s.
  const started = Promise.withResolvers<string | null>();
  const listeningLine = () =>
    out
      .slice(0, out.lastIndexOf("\n") + 1)
      .split("\n")
      .find((l) => l.includes("soli-proxy listening")) ?? null;
  void pump(proc.stdout, (s) => {
    out += s;
    const line = s.includes("\n") ? listeningLine() : null;
    if (line) started.resolve(line);
  });
  void pump(proc.stderr, (s) => (err += s));
  void proc.exited.then(() => started.resolve(listeningLine()));
  const timer = setTimeout(() => started.resolve(null), 15_000); // a start-up deadline, not a wait
  const line = await started.promise;
  clearTimeout(timer);
  if (line === null) {
    proc.kill("SIGKILL");
    throw new Error(`proxy did not start (exit ${proc.exitCode}): ${err}${out}`);
  }
  const listening = JSON.parse(line) as Record<string, unknown>;
  const entry = listening as { http: string; https: string };
  const ports = { http: Number(entry.http.split(":").pop()), https: Number(entry.https.split(":").pop()) };
  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (proc.exitCode === null) proc.kill(signal);
    return proc.exited;
  };
  return {
    proc,
    http: ports.http,
    https: ports.https,
    listening,
    output: () => out,
    errors: () => err,
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop("SIGKILL");
    },
  };
}
