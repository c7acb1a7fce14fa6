/**
 * Basic authentication (SPEC §7.2). The user name is compared in constant time with every
 * configured user and exactly one bcrypt verification runs per attempt (against a dummy hash when
 * the user is unknown), so neither the answer's content nor its timing tells which users exist.
 * Successful verifications are cached for 5 minutes under a digest of the header and the
 * configured hashes; a cached request costs one SHA-256 and a map lookup, and concurrent requests
 * with the same header share one verification.
 */
import { timingSafeEqual } from "node:crypto";
import type { AuthGrant, BasicPolicy } from "../../config/snapshot.ts";
import { BASIC_CACHE_MS, type AuthCache } from "../../state/auth-cache.ts";
import { plain, tooManyAttempts } from "../errors.ts";

/** bcrypt reads at most 72 bytes of a password; Bun pre-hashes longer input, so we cut it first. */
const BCRYPT_MAX_BYTES = 72;

export function checkBasic(req: Request, policy: BasicPolicy, cache: AuthCache, client = ""): AuthGrant | Response | Promise<AuthGrant | Response> {
  const header = req.headers.get("authorization");
  if (header === null || header.length < 7 || header.slice(0, 6).toLowerCase() !== "basic " || policy.users.length === 0) {
    return deny(policy, req.method);
  }
  const key = Bun.SHA256.hash(header + policy.cacheSalt, "base64");
  const now = performance.now();
  const known = cache.basic.get(key, now);
  if (known !== undefined) return known;

  let verification: Promise<AuthGrant | null> | null | undefined = cache.pending.get(key);
  if (verification !== undefined) return verification.then((grant) => grant ?? deny(policy, req.method));

  // Before any bcrypt runs (issue 20): the client's failed-attempt bucket, then the bound on
  // verifications waiting for the thread pool.
  const throttle = cache.throttle;
  const wait = throttle.take(client, now);
  if (wait > 0) return tooManyAttempts(req.method, wait);
  const full = throttle.startVerify(client);
  if (full !== null) {
    throttle.refund(client);
    return full === "client" ? tooManyAttempts(req.method, 1) : plain(503, req.method, "Service Unavailable", { "retry-after": "1" });
  }
  verification = verify(header, policy);
  if (verification === null) {
    throttle.endVerify(client);
    return deny(policy, req.method);
  }
  cache.pending.set(key, verification);
  void verification.then((grant) => {
    throttle.endVerify(client);
    cache.pending.delete(key);
    const now = performance.now();
    if (grant === null) return;
    throttle.refund(client);
    cache.basic.set(key, grant, now + BASIC_CACHE_MS, now);
  });
  return verification.then((grant) => grant ?? deny(policy, req.method));
}

/** The one bcrypt verification of an attempt; null without running one when the header is malformed. */
function verify(header: string, policy: BasicPolicy): Promise<AuthGrant | null> | null {
  const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return null;
  const nameDigest = Bun.SHA256.hash(decoded.slice(0, colon)) as Uint8Array;
  let match = -1;
  // No early exit: every user is compared, whoever matches.
  for (let i = 0; i < policy.users.length; i++) {
    if (timingSafeEqual(policy.users[i]!.nameDigest, nameDigest)) match = i;
  }
  const user = match >= 0 ? policy.users[match]! : null;
  let password = Buffer.from(decoded.slice(colon + 1), "utf8");
  if (password.length > BCRYPT_MAX_BYTES) password = password.subarray(0, BCRYPT_MAX_BYTES);
  return Bun.password.verify(password, user?.hash ?? policy.dummyHash, "bcrypt").then(
    (ok) => (ok && user !== null ? user.grant : null),
    () => null,
  );
}

function deny(policy: BasicPolicy, method: string): Response {
  return plain(401, method, "Authentication required", { "www-authenticate": policy.challenge });
}
