/**
 * Command-line parsing (SPEC §2). Options may come before or after the command; a later value
 * wins. Mistakes are UsageErrors, which main turns into exit code 2.
 */
import { dirname, join, resolve } from "node:path";

export class UsageError extends Error {
  override name = "UsageError";
}

export const COMMANDS = ["deploy", "restart", "rollback", "stop", "logs", "check", "hash-password", "hash-key", "update", "tui"] as const;
export type Command = (typeof COMMANDS)[number] | "run";

export interface CliArgs {
  command: Command;
  /** Positionals after the command (app name, password, key). */
  args: string[];
  conf: string;
  daemon: boolean;
  dev: boolean;
  watch: boolean;
  /** --sites-dir as given; null means `sites/` beside the proxy.conf in use (SPEC §2). */
  sitesDir: string | null;
  /** --run-dir: where run/ lives instead of beside proxy.conf (null: config.toml or the default). */
  runDir: string | null;
  help: boolean;
  version: boolean;
  /** Command flags: --cost N, --reinstall, --allow-unverified, --follow. */
  cost: number | null;
  reinstall: boolean;
  allowUnverified: boolean;
  follow: boolean;
  /** update: --check, --rollback, --no-restart (SPEC §16.4). */
  check: boolean;
  rollback: boolean;
  noRestart: boolean;
}

/** Options that take a value (the next token, or `--flag=value`). */
export const VALUE_FLAGS = new Set(["-c", "--conf", "--sites-dir", "--run-dir", "--cost"]);

export function parseArgs(argv: readonly string[], env: Record<string, string | undefined> = process.env): CliArgs {
  const out: CliArgs = {
    command: "run",
    args: [],
    conf: env.SOLI_CONFIG_PATH || "./proxy.conf",
    daemon: false,
    dev: false,
    watch: true,
    sitesDir: null,
    runDir: null,
    help: false,
    version: false,
    cost: null,
    reinstall: false,
    allowUnverified: false,
    follow: false,
    check: false,
    rollback: false,
    noRestart: false,
  };
  let commandSeen = false;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token.startsWith("-") && token !== "-") {
      const eq = token.indexOf("=");
      const flag = eq > 0 && token.startsWith("--") ? token.slice(0, eq) : token;
      let inline: string | undefined = eq > 0 && token.startsWith("--") ? token.slice(eq + 1) : undefined;
      const value = (): string => {
        if (inline !== undefined) return inline;
        const next = argv[i + 1];
        if (next === undefined) throw new UsageError(`${flag} needs a value`);
        i++;
        return next;
      };
      switch (flag) {
        case "-c":
        case "--conf":
          out.conf = value();
          break;
        case "--sites-dir":
          out.sitesDir = value();
          break;
        case "--run-dir":
          out.runDir = value();
          break;
        case "-d":
        case "--daemon":
          out.daemon = true;
          break;
        case "--dev":
          out.dev = true;
          break;
        case "--watch": {
          const next = inline ?? argv[i + 1];
          if (next === "true" || next === "false") {
            if (inline === undefined) i++;
            out.watch = next === "true";
          } else if (inline !== undefined) {
            throw new UsageError(`--watch takes true or false, not '${inline}'`);
          } else out.watch = true;
          inline = undefined;
          break;
        }
        case "-h":
        case "--help":
          out.help = true;
          break;
        case "-V":
        case "--version":
          out.version = true;
          break;
        case "--cost": {
          const v = value();
          if (!/^\d+$/.test(v)) throw new UsageError(`--cost takes an integer, not '${v}'`);
          out.cost = Number(v);
          break;
        }
        case "--reinstall":
          out.reinstall = true;
          break;
        case "--allow-unverified":
          out.allowUnverified = true;
          break;
        case "--check":
          out.check = true;
          break;
        case "--rollback":
          out.rollback = true;
          break;
        case "--no-restart":
          out.noRestart = true;
          break;
        case "-f":
        case "--follow":
          out.follow = true;
          break;
        default:
          throw new UsageError(`unknown option '${flag}'`);
      }
      if (inline !== undefined && !VALUE_FLAGS.has(flag) && flag !== "--watch") throw new UsageError(`${flag} takes no value`);
      continue;
    }
    if (!commandSeen && (COMMANDS as readonly string[]).includes(token)) {
      out.command = token as Command;
      commandSeen = true;
      continue;
    }
    if (!commandSeen && (token === "dev" || token === "prod")) {
      out.dev = token === "dev";
      continue;
    }
    if (!commandSeen) throw new UsageError(`unknown command '${token}'`);
    out.args.push(token);
  }
  return out;
}

/** The sites directory in use: --sites-dir from the working directory, else sites/ beside proxy.conf (SPEC §2). */
export function sitesDirOf(args: Pick<CliArgs, "sitesDir" | "conf">): string {
  return args.sitesDir !== null ? resolve(args.sitesDir) : join(dirname(resolve(args.conf)), "sites");
}

export const USAGE = `soli-proxy — reverse proxy and app server

Usage:
  soli-proxy [OPTIONS] [dev|prod]        run the proxy
  soli-proxy <COMMAND> [ARGS] [OPTIONS]

Commands:
  deploy <app>                 blue/green deploy to the other slot
  restart <app>                zero-downtime restart
  rollback <app>               start the other slot again from the same app directory (the
                               code on disk now; Docker apps: the image the previous slot ran)
  stop <app>                   stop an app
  logs <app> [--follow]        print both slot logs
  check                        validate proxy.conf, config.toml, app.infos and certificates
  hash-password [PASSWORD] [--cost N]   print a bcrypt hash
  hash-key [KEY]               print the sha256: form of an API key
  update [--check] [--reinstall] [--allow-unverified] [--no-restart] [--rollback]
                               self-update from the release channel, then upgrade a running proxy
  tui                          terminal UI

Options:
  -c, --conf <FILE>            proxy.conf (default $SOLI_CONFIG_PATH, else ./proxy.conf)
  -d, --daemon                 run in the background
      --dev                    development mode (self-signed TLS, .test aliases, one process)
      --watch [true|false]     watch config, certificates and sites (default true)
      --sites-dir <DIR>        managed apps (default: sites/ beside proxy.conf)
      --run-dir <DIR>          control socket, pid file, app state, logs (default: [server] run_dir, else run/ beside proxy.conf)
  -h, --help                   this help
  -V, --version                print the version
`;
