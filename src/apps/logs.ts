/**
 * Slot logs (SPEC §14.4, §16.1): `run/logs/<app>/<slot>.log`, truncated at each start and
 * bounded by copy-and-truncate rotation (the app keeps writing to its O_APPEND descriptor, so the
 * file cannot be renamed under it): past ROTATE_BYTES the content moves to `<slot>.log.1` and the
 * log starts again at 0.
 */
import { closeSync, constants, copyFileSync, mkdirSync, openSync, readSync, statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import type { Slot } from "./config.ts";

/** Size at which a slot log is rotated into `<slot>.log.1` (one previous file is kept). */
export const ROTATE_BYTES = 10 * 1024 * 1024;
/** What the admin API returns of each slot log (SPEC §11.2). */
export const TAIL_BYTES = 256 * 1024;

export function slotLogPath(runDir: string, app: string, slot: Slot): string {
  return join(runDir, "logs", app, `${slot}.log`);
}

/** Opens the slot log for a new process: created 0640, truncated, append-only. */
export function openSlotLog(runDir: string, app: string, slot: Slot): number {
  const dir = join(runDir, "logs", app);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return openSync(slotLogPath(runDir, app, slot), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_APPEND, 0o640);
}

/** Rotates the file when it grew past `limit`; returns whether it did. */
export function rotateIfLarge(path: string, limit = ROTATE_BYTES): boolean {
  try {
    if (statSync(path).size <= limit) return false;
    copyFileSync(path, `${path}.1`);
    truncateSync(path, 0);
    return true;
  } catch {
    return false;
  }
}

/** The last `max` bytes of a file, without the partial first line when cut; "" when missing. */
export function tailFile(path: string, max = TAIL_BYTES): string {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return "";
  }
  try {
    const size = statSync(path).size;
    const start = Math.max(0, size - max);
    const buffer = Buffer.alloc(size - start);
    const n = readSync(fd, buffer, 0, buffer.length, start);
    let text = buffer.subarray(0, n).toString("utf8");
    if (start > 0) {
      const newline = text.indexOf("\n");
      text = newline < 0 ? "" : text.slice(newline + 1);
    }
    return text;
  } finally {
    closeSync(fd);
  }
}

/** Bytes of `path` from `offset` on (for following a log); resets to 0 when the file shrank. */
export function readFrom(path: string, offset: number): { text: string; offset: number } {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return { text: "", offset: 0 };
  }
  if (size < offset) offset = 0; // truncated by a restart or a rotation
  if (size === offset) return { text: "", offset };
  const fd = openSync(path, "r");
  try {
    const buffer = Buffer.alloc(size - offset);
    const n = readSync(fd, buffer, 0, buffer.length, offset);
    return { text: buffer.subarray(0, n).toString("utf8"), offset: offset + n };
  } finally {
    closeSync(fd);
  }
}
