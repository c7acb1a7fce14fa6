/**
 * AppError (ARCHITECTURE §6): an app operation that failed, with the exact SPEC message and a kind
 * the admin API maps to a status (not_found 404, busy 409, failed 500) and the CLI to exit 1.
 */
export type AppErrorKind = "not_found" | "busy" | "failed";

export class AppError extends Error {
  override name = "AppError";
  constructor(
    readonly kind: AppErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export const notFound = (name: string) => new AppError("not_found", `App not found: ${name}`);
export const busy = (name: string) => new AppError("busy", `Deployment already in progress for ${name}`);
