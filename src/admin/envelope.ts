/**
 * The admin JSON envelope (SPEC §11.1): `{"ok":true,"data":…}` or `{"ok":false,"error":"…"}`.
 * Routes return data or throw ApiError; the app's onError renders it.
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: ContentfulStatusCode,
    message: string,
    /** Extra top-level fields of the error envelope (e.g. `issues`). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function ok(c: Context, data: unknown, status: ContentfulStatusCode = 200): Response {
  return c.json({ ok: true, data }, status);
}

export function failure(status: number, error: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Response {
  return Response.json({ ok: false, error, ...extra }, { status, headers });
}

/** The request body as JSON; a body that does not parse is 400 `Invalid JSON: …`. */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, `Invalid JSON: ${(err as Error).message}`);
  }
}
