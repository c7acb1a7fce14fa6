/**
 * Dashboard sessions (SPEC §18): an api_key exchanged once for a cookie that a browser sends on
 * its own. The cookie is signed (HMAC-SHA256, hono/cookie) with a secret drawn at random when the
 * process starts, so a cookie from before a restart, or one made up, is refused. It carries its
 * expiry and a fingerprint of the key it was issued for: changing admin.api_key ends every session.
 * Signing out also ends the session here, not only in the browser: a copy of the cookie taken
 * before (another browser profile, a proxy log, a stolen laptop's disk) stops working too.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Context } from "hono";
import { deleteCookie, getSignedCookie, setSignedCookie } from "hono/cookie";
import { isLoopback } from "../../lib/net.ts";
import type { AdminEnv } from "../port.ts";

export const SESSION_COOKIE = "soli_session";
export const SESSION_SECONDS = 12 * 60 * 60;

type AdminContext = Context<{ Bindings: AdminEnv }>;

export class Sessions {
  private readonly secret = randomBytes(32);
  /** Signed-out cookie values and their expiry (ms): refused until they would have expired anyway. */
  private readonly ended = new Map<string, number>();

  /** Sets the session cookie for `apiKey`, valid 12 h. */
  async issue(c: AdminContext, apiKey: string, nowMs = Date.now()): Promise<void> {
    const expires = nowMs + SESSION_SECONDS * 1000;
    // The nonce tells apart two sessions issued in the same millisecond, so ending one leaves the other.
    await setSignedCookie(c, SESSION_COOKIE, `${expires}.${fingerprint(apiKey)}.${randomBytes(9).toString("base64url")}`, this.secret, {
      path: "/",
      httpOnly: true,
      sameSite: "Strict",
      secure: isHttps(c),
      maxAge: SESSION_SECONDS,
    });
  }

  /** True when the request carries a cookie this process signed for `apiKey` that has not expired. */
  async valid(c: AdminContext, apiKey: string, nowMs = Date.now()): Promise<boolean> {
    if (apiKey === "" || !(c.req.header("cookie") ?? "").includes(SESSION_COOKIE)) return false;
    const value = await getSignedCookie(c, this.secret, SESSION_COOKIE).catch(() => false as const);
    if (typeof value !== "string" || this.ended.has(value)) return false;
    const [expiry, keyPrint] = value.split(".");
    const expires = Number(expiry);
    return expiry !== "" && Number.isFinite(expires) && expires > nowMs && keyPrint === fingerprint(apiKey);
  }

  /**
   * Ends the request's session (when it carries a valid one) for good, and clears the cookie. Only
   * holders of a live session can add to the list, and each entry leaves it when its cookie expires.
   */
  async end(c: AdminContext, apiKey: string, nowMs = Date.now()): Promise<void> {
    for (const [value, expires] of this.ended) if (expires <= nowMs) this.ended.delete(value);
    if (await this.valid(c, apiKey, nowMs)) {
      const value = (await getSignedCookie(c, this.secret, SESSION_COOKIE)) as string;
      this.ended.set(value, Number(value.slice(0, value.indexOf("."))));
    }
    deleteCookie(c, SESSION_COOKIE, { path: "/", secure: isHttps(c), httpOnly: true, sameSite: "Strict" });
  }
}

/** A short digest of the key: enough to tell keys apart, nothing to recover one from. */
function fingerprint(apiKey: string): string {
  return createHash("sha256").update(apiKey).digest("base64url").slice(0, 22);
}

/**
 * The admin listener speaks plain HTTP; it is HTTPS for the browser when a TLS front on this
 * machine (an SSH tunnel needs none) says so. Only a loopback peer is believed.
 */
function isHttps(c: AdminContext): boolean {
  if (new URL(c.req.url).protocol === "https:") return true;
  const peer = c.env?.peer;
  return !!peer && isLoopback(peer) && c.req.header("x-forwarded-proto")?.toLowerCase() === "https";
}
