/**
 * Running the proxy in the foreground until SIGTERM/SIGINT (SPEC §15.4). A second signal exits
 * at once with code 1.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { startProxy } from "../runtime/runtime.ts";

export interface ServeOptions {
  conf: string;
  dev: boolean;
  watch: boolean;
  sitesDir: string;
}

export async function serve(opts: ServeOptions): Promise<number> {
  const confPath = resolve(opts.conf);
  if (!existsSync(confPath)) throw new Error(`config file '${opts.conf}' not found`);
  // A reload signal during start-up is remembered and acted on once the proxy is up: without a
  // handler its default action would kill the process, and "listening" is logged a little before
  // startProxy returns.
  let reloadAsked = false;
  const remember = () => (reloadAsked = true);
  process.on("SIGUSR1", remember);
  process.on("SIGHUP", remember);
  // Likewise a Ctrl-C or SIGTERM in that window: remembered, then a normal graceful shutdown.
  let stopAsked = false;
  const rememberStop = () => {
    if (stopAsked) process.exit(1); // a second one: out now, as after start-up
    stopAsked = true;
  };
  process.on("SIGTERM", rememberStop);
  process.on("SIGINT", rememberStop);
  // startProxy writes run/proxy.pid once everything is up and shutdown() removes it.
  const proxy = await startProxy({ confPath, dev: opts.dev, watch: opts.watch, sitesDir: resolve(opts.sitesDir) });

  return new Promise<number>((done) => {
    let signalled = false;
    const onSignal = () => {
      if (signalled) {
        process.exit(1); // second signal: the operator wants out now
      }
      signalled = true;
      proxy.shutdown().then(() => done(0));
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    process.off("SIGTERM", rememberStop);
    process.off("SIGINT", rememberStop);
    if (stopAsked) onSignal();
    // SPEC §13 and §12.3: the signals reload the configuration and rescan the certificates.
    const reload = () => {
      void proxy.reload();
      void proxy.reloadCertificates();
      proxy.rediscoverApps(); // app.infos edits, also with --watch false
    };
    process.on("SIGUSR1", reload);
    process.on("SIGHUP", reload);
    process.off("SIGUSR1", remember); // after ours are on, so the signals are never unhandled
    process.off("SIGHUP", remember);
    if (reloadAsked) reload();
  });
}
