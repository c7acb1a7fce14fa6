#!/usr/bin/env bun
/**
 * soli-proxy entry point: arguments → command → exit code. The only place that calls process.exit.
 */
// First of all: @peculiar/x509 (certificates, ACME) needs the Reflect polyfill before it is evaluated,
// also when a bundle loads it lazily (the compiled executable).
import "reflect-metadata";
import { COMMANDS, parseArgs, sitesDirOf, USAGE, UsageError } from "./cli/args.ts";
import { ConfigError, formatIssue } from "./config/issues.ts";
import { VERSION, versionLine } from "./lib/version.ts";
import { WORKER_ENV } from "./runtime/worker-protocol.ts";

export { VERSION };

export async function main(argv: readonly string[]): Promise<number> {
  // A worker process spawned by the primary (SPEC §15.1): no arguments, everything comes over IPC.
  const worker = process.env[WORKER_ENV];
  if (worker !== undefined) {
    delete process.env[WORKER_ENV];
    return (await import("./runtime/worker-main.ts")).runWorker(Number(worker));
  }
  let args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`Error: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  if (args.version) {
    console.log(versionLine()); // `soli-proxy <v> (bun <v>)`: what update checks in a download (SPEC §2, §16.4)
    return 0;
  }
  try {
    // Each command loads its own modules: a running proxy carries neither the updater nor the
    // lifecycle client (memory for small servers, docs/architecture.md).
    switch (args.command) {
      case "run":
        if (args.daemon) return await (await import("./cli/daemon.ts")).daemon({ conf: args.conf, runDir: args.runDir, argv });
        // Imported here, not at the top: a worker process (above) must not evaluate the primary's
        // modules (config loading with zod, apps, admin), about 10 MiB per worker (bench/memory.ts).
        return await (await import("./cli/serve.ts")).serve({
          conf: args.conf,
          dev: args.dev,
          watch: args.watch,
          sitesDir: sitesDirOf(args),
          runDir: args.runDir,
          argv,
        });
      case "check":
        return (await import("./cli/check.ts")).check({ conf: args.conf, sitesDir: sitesDirOf(args) });
      case "hash-password":
        return await (await import("./cli/hash-password.ts")).hashPassword(args.args, args.cost);
      case "hash-key":
        return await (await import("./cli/hash-password.ts")).hashKey(args.args);
      case "update":
        return await (await import("./cli/update.ts")).update({
          reinstall: args.reinstall,
          allowUnverified: args.allowUnverified,
          check: args.check,
          rollback: args.rollback,
          noRestart: args.noRestart,
          conf: args.conf,
          runDir: args.runDir,
        });
      case "deploy":
      case "restart":
      case "rollback":
      case "stop":
      case "logs":
        return await (await import("./cli/lifecycle.ts")).lifecycle({
          command: args.command,
          app: args.args[0],
          conf: args.conf,
          sitesDir: sitesDirOf(args),
          runDir: args.runDir,
          dev: args.dev,
          follow: args.follow,
        });
      case "tui": {
        // Loaded on demand: the renderer (React, Ink, Yoga) is only for this command.
        const { tui } = await import("./tui/run.tsx");
        return await tui({ conf: args.conf, sitesDir: sitesDirOf(args), runDir: args.runDir, dev: args.dev });
      }
      default:
        console.error(`Error: '${args.command}' is not available in this build yet (commands: ${COMMANDS.join(", ")})`);
        return 1;
    }
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`Error: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof ConfigError) {
      for (const issue of err.issues) console.error(formatIssue(issue));
      console.error("Error: configuration is invalid");
      return 1;
    }
    console.error(`Error: ${(err as Error).message}`);
    return 1;
  }
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2));
  process.exit(code);
}
