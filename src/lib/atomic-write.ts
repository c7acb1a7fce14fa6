import { chmodSync, closeSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { dirname, basename, join } from "node:path";

/**
 * Writes a file so that readers see either the old or the new content, never a partial one:
 * temp file beside it, fsync, rename. Keeps the existing file's mode unless one is given.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode?: number): void {
  let keepMode = mode;
  if (keepMode === undefined) {
    try {
      keepMode = statSync(path).mode & 0o777;
    } catch {
      keepMode = 0o644;
    }
  }
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, "w", keepMode);
  try {
    writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    chmodSync(tmp, keepMode);
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {}
    throw err;
  }
}
