/**
 * The process logger: pino, JSON lines by default (SPEC §9), or `time LEVEL msg key=value…` text.
 * Output goes to stdout, stderr or an appended file.
 */
import pino, { type DestinationStream, type Logger } from "pino";

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
  const stream: DestinationStream = opts.format === "text" ? textStream(sink) : sink;
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

function destination(output: string): pino.DestinationStream & { flushSync?: () => void } {
  if (output === "stderr") return pino.destination({ dest: 2, sync: true });
  if (output.startsWith("file:")) return pino.destination({ dest: output.slice(5), mkdir: true, append: true, sync: true });
  return pino.destination({ dest: 1, sync: true });
}

/** Re-renders pino's JSON lines as `time LEVEL msg key=value…` (SPEC §4 logging.format = "text"). */
function textStream(sink: DestinationStream): DestinationStream {
  return {
    write(line: string) {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line);
      } catch {
        sink.write(line);
        return;
      }
      const { time, level, msg, ...rest } = entry;
      const fields = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === "string" && !/\s/.test(v) ? v : JSON.stringify(v)}`)
        .join(" ");
      sink.write(`${time} ${String(level).toUpperCase()} ${msg ?? ""}${fields ? " " + fields : ""}\n`);
    },
  };
}
