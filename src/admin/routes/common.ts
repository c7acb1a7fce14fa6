/** Pieces every admin route file shares. */
import type { Hono } from "hono";
import type { ReloadResult } from "../../config/issues.ts";
import { ApiError } from "../envelope.ts";
import type { AdminEnv } from "../port.ts";

export type AdminApp = Hono<{ Bindings: AdminEnv }>;

/** The version a configuration change produced, or 422 `Reload failed: …` with the issues (SPEC §11.2). */
export function versionOrThrow(result: ReloadResult): number {
  if (result.ok) return result.version;
  const errors = result.issues.filter((i) => i.severity === "error");
  const text = errors
    .map((i) => `${i.file}${i.line !== undefined ? `:${i.line}${i.column !== undefined ? `:${i.column}` : ""}` : ""}: ${i.message}`)
    .join("; ");
  throw new ApiError(422, `Reload failed: ${text}`, {
    issues: errors.map((i) => ({ file: i.file, line: i.line ?? null, column: i.column ?? null, message: i.message })),
  });
}

/** A provider that this build may lack: 501 with a sentence saying what is missing. */
export function need<T>(provider: T | undefined, what: string): T {
  if (provider === undefined) throw new ApiError(501, what);
  return provider;
}
