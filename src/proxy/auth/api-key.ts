/**
 * API-key authentication (SPEC §7.3). The presented key is hashed once and compared in constant
 * time with the digest of every configured key (no early exit); plain-text entries were hashed at
 * compile time, so both forms cost the same. On success the key header is not forwarded.
 */
import { timingSafeEqual } from "node:crypto";
import type { ApiKeyEntry, ApiKeyPolicy, AuthGrant } from "../../config/snapshot.ts";
import { plain } from "../errors.ts";

export function checkApiKey(req: Request, policy: ApiKeyPolicy): AuthGrant | Response {
  const presented = req.headers.get(policy.header);
  if (presented === null || presented === "" || policy.keys.length === 0) return deny(policy, req.method);
  const digest = Bun.SHA256.hash(presented) as Uint8Array;
  let match: ApiKeyEntry | null = null;
  for (const entry of policy.keys) {
    if (timingSafeEqual(entry.digest, digest)) match = entry;
  }
  return match !== null ? match.grant : deny(policy, req.method);
}

function deny(policy: ApiKeyPolicy, method: string): Response {
  return plain(401, method, "Authentication required", { "www-authenticate": policy.challenge });
}
