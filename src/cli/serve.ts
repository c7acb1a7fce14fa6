/**
 * Running the proxy in the foreground until SIGTERM/SIGINT (SPEC §15.4). A second signal exits
 * at once with code 1. SIGUSR2 replaces it with the executable on disk, hitless (SPEC §15.5); the
 * process started that way is told so by its environment and takes over instead of starting cold.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigError, formatIssue } from "../config/issues.ts";
import { startProxy } from "../runtime/runtime.ts";
import { Successor } from "../runtime/upgrade.ts";

export interface ServeOptions {
  conf: string;
  dev: boolean;
  watch: boolean;
  sitesDir: string;
  /** --run-dir, when given. */
  runDir?: string | null;
  /** The command line as given, for the re-exec of a hitless upgrade. */
  argv?: readonly string[];
}

export async function serve(opts: ServeOptions): Promise<number> {
  const successor = Successor.fromEnv();
  const confPath = resolve(opts.conf);
  // A reload or upgrade signal during start-up is remembered and acted on once the proxy is up:
  // without a handler its default action would kill the process, and "listening" is logged a
  // little before startProxy returns.
  let reloadAsked = false;
  let upgradeAsked = false;
  const remember = () => (reloadAsked = true);
  const rememberUpgrade = () => (upgradeAsked = true);
  process.on("SIGUSR1", remember);
  process.on("SIGHUP", remember);
  process.on("SIGUSR2", rememberUpgrade);
  // Likewise a Ctrl-C or SIGTERM in that window: remembered, then a normal graceful shutdown.
  let stopAsked = false;
  const rememberStop = () => {
    if (stopAsked) process.exit(1); // a second one: out now, as after start-up
    stopAsked = true;
  };
  process.on("SIGTERM", rememberStop);
  process.on("SIGINT", rememberStop);
  // startProxy writes run/proxy.pid once everything is up and shutdown() removes it.
  let proxy;
  try {
    if (!existsSync(confPath)) throw new Error(`config file '${opts.conf}' not found`);
    proxy = await startProxy({ confPath, dev: opts.dev, watch: opts.watch, sitesDir: resolve(opts.sitesDir), runDir: opts.runDir, argv: opts.argv, successor });
  } catch (err) {
    // The old primary logs why and keeps serving (SPEC §15.5 step 1).
    successor?.failed(
      err instanceof ConfigError
        ? `configuration is invalid: ${err.issues
            .filter((i) => i.severity === "error")
            .map(formatIssue)
            .join("; ")}`
        : (err as Error).message,
    );
    throw err;
  }
  const running = proxy;

  return new Promise<number>((done) => {
    let signalled = false;
    const onSignal = () => {
      if (signalled) {
        process.exit(1); // second signal: the operator wants out now
      }
      signalled = true;
      running.shutdown().then(() => done(0));
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    process.off("SIGTERM", rememberStop);
    process.off("SIGINT", rememberStop);
    if (stopAsked) onSignal();
    // SPEC §13 and §12.3: the signals reload the configuration and rescan the certificates.
    const reload = () => {
      void running.reload();
      void running.reloadCertificates();
      running.rediscoverApps(); // app.infos edits, also with --watch false
    };
    // SPEC §15.5: the failure is logged by the upgrade itself, and this proxy keeps serving.
    const upgrade = () => void running.upgrade().catch((err) => running.log().error({ err: (err as Error).message }, "upgrade not done"));
    process.on("SIGUSR1", reload);
    process.on("SIGHUP", reload);
    process.on("SIGUSR2", upgrade);
    process.off("SIGUSR1", remember); // after ours are on, so the signals are never unhandled
    process.off("SIGHUP", remember);
    process.off("SIGUSR2", rememberUpgrade);
    if (reloadAsked) reload();
    if (upgradeAsked) upgrade();
    // Handed over to a new primary and drained (SPEC §15.5 step 2).
    void running.retired.then(() => done(0));
  });
}
