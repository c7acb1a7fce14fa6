/**
 * The process logger: pino, JSON lines by default (SPEC §9), or `time LEVEL: msg key=value…` text
 * through pino-pretty. Output goes to stdout, stderr or an appended file.
 */
import pino, { type DestinationStream, type Logger } from "pino";
import { isatty } from "node:tty";

export type { Logger };
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error";

export interface LogOptions {
  level: LogLevel | "silent";
  format: "json" | "text";
  /** `stdout`, `stderr` or `file:<path>` */
  output: string;
  /** Added to every line in worker processes (SPEC §9). */
  worker?: number;
}

export function createLogger(opts: LogOptions): Logger {
  const sink = destination(opts.output);
  const stream: DestinationStream = opts.format === "text" ? textStream(sink, isTerminal(opts.output)) : sink;
  return pino(
    {
      level: opts.level,
      base: opts.worker === undefined ? null : { worker: opts.worker },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
}

/** A logger that drops everything; for tests and for commands that only print. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

/** Whether `output` (stdout, stderr, file:…) is a terminal: where a person reads the log. */
export function isTerminal(output: string): boolean {
  if (output === "stdout") return isatty(1);
  if (output === "stderr") return isatty(2);
  return false;
}

function destination(output: string): pino.DestinationStream & { flushSync?: () => void } {
  if (output === "stderr") return pino.destination({ dest: 2, sync: true });
  if (output.startsWith("file:")) return pino.destination({ dest: output.slice(5), mkdir: true, append: true, sync: true });
  return pino.destination({ dest: 1, sync: true });
}

/**
 * `time LEVEL: msg key=value…` lines for a person (SPEC §9 logging.format = "text", and `--dev` on
 * a terminal), rendered by pino-pretty in its stream form: a transport would need a worker file on
 * disk, which the compiled executable does not have. Colours only when the sink is a terminal.
 */
function textStream(sink: DestinationStream, colorize: boolean): DestinationStream {
  // Required here, not imported at the top: a proxy logging JSON (the default) never evaluates
  // pino-pretty and its dependencies (about 1 MiB idle, bench/memory.ts).
  const pretty: typeof import("pino-pretty") = require("pino-pretty");
  return pretty({
    destination: sink,
    sync: true,
    colorize,
    translateTime: false,
    customPrettifiers: { time: (time) => String(time) },
    hideObject: true,
    messageFormat: (entry, messageKey) => {
      const { time: _time, level: _level, [messageKey]: msg, ...rest } = entry as Record<string, unknown>;
      const fields = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === "string" && v !== "" && !/[\s"=]/.test(v) ? v : JSON.stringify(v)}`)
        .join(" ");
      return `${msg ?? ""}${fields ? ` ${fields}` : ""}`;
    },
  });
}
