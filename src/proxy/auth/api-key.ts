/**
 * API-key authentication (SPEC §7.3). The presented key is hashed once and compared in constant
 * time with the digest of every configured key (no early exit); plain-text entries were hashed at
 * compile time, so both forms cost the same. On success the key header is not forwarded.
 */
import { timingSafeEqual } from "node:crypto";
import type { ApiKeyEntry, ApiKeyPolicy, AuthGrant } from "../../config/snapshot.ts";
import type { AuthThrottle } from "../../state/auth-cache.ts";
import { plain, tooManyAttempts } from "../errors.ts";

export function checkApiKey(req: Request, policy: ApiKeyPolicy, throttle?: AuthThrottle, client = ""): AuthGrant | Response {
  const presented = req.headers.get(policy.header);
  if (presented === null || presented === "" || policy.keys.length === 0) return deny(policy, req.method);
  // Guessing keys is throttled per client like Basic passwords (issue 20).
  const wait = throttle?.take(client) ?? 0;
  if (wait > 0) return tooManyAttempts(req.method, wait);
  const digest = Bun.SHA256.hash(presented) as Uint8Array;
  let match: ApiKeyEntry | null = null;
  for (const entry of policy.keys) {
    if (timingSafeEqual(entry.digest, digest)) match = entry;
  }
  if (match === null) return deny(policy, req.method);
  throttle?.refund(client);
  return match.grant;
}

function deny(policy: ApiKeyPolicy, method: string): Response {
  return plain(401, method, "Authentication required", { "www-authenticate": policy.challenge });
}
