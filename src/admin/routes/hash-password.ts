/** POST /hash-password (SPEC §11.2): the same bcrypt hash `soli-proxy hash-password` prints. */
import { ApiError, ok, readJson } from "../envelope.ts";
import type { AdminApp } from "./common.ts";

const COST = 12;

export function hashPasswordRoutes(api: AdminApp): void {
  api.post("/hash-password", async (c) => {
    const body = await readJson(c);
    const password = typeof body === "object" && body !== null ? (body as { password?: unknown }).password : undefined;
    if (password === undefined || password === null || password === "") throw new ApiError(400, "Password cannot be empty");
    if (typeof password !== "string") throw new ApiError(400, "password must be a string");
    // Standard bcrypt reads 72 bytes; Bun would pre-hash a longer one into an incompatible hash.
    if (Buffer.byteLength(password, "utf8") > 72) throw new ApiError(400, "Password is longer than 72 bytes, the most bcrypt uses");
    const hash = await Bun.password.hash(password, { algorithm: "bcrypt", cost: COST });
    return ok(c, { hash, format: "bcrypt" });
  });
}
