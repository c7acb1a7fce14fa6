/**
 * The process logger from [logging] (SPEC §9), the same in the primary and in each worker. A file
 * of its own so that a worker process does not load the primary's wiring (runtime.ts) for it.
 */
import { resolve } from "node:path";
import { createLogger, isTerminal, type Logger, type LogLevel } from "../lib/log.ts";

export interface LoggingSettings {
  level: LogLevel;
  format: "json" | "text";
  output: string;
}

/** The logger [logging] describes; `dir` is proxy.conf's folder, `worker` the index of a worker process. */
export function loggerFor(logging: LoggingSettings, dir: string, dev: boolean, worker?: number): Logger {
  return createLogger({ level: logging.level, format: logFormat(logging, dev), output: resolveOutput(logging.output, dir), worker });
}

/** `file:<path>` outputs are relative to the config dir, like every path in config.toml (SPEC §1). */
export function resolveOutput(output: string, dir: string): string {
  return output.startsWith("file:") ? `file:${resolve(dir, output.slice(5))}` : output;
}

/** `--dev` on a terminal reads as text, one line per event; everywhere else the configured format (SPEC §9). */
export function logFormat(logging: { format: "json" | "text"; output: string }, dev: boolean): "json" | "text" {
  return logging.format === "text" || (dev && isTerminal(logging.output)) ? "text" : "json";
}
