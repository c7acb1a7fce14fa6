/**
 * JWT authentication (SPEC §7.4) with jose: signature with an allowed algorithm, `exp` required,
 * `nbf`, `iss` and `aud` checked with the leeway. A verified token is trusted for up to a minute
 * (never past its `exp`), so a client reusing its token costs a map lookup, not a signature check.
 * Verification is asynchronous; a cached token answers synchronously.
 */
import { jwtVerify, type JWTPayload, type JWTVerifyOptions } from "jose";
import type { AuthGrant, JwtPolicy } from "../../config/snapshot.ts";
import { JWT_CACHE_MS, type AuthCache } from "../../state/auth-cache.ts";
import { JwksUnavailable, type JwksSets } from "../../state/jwks.ts";
import { plain } from "../errors.ts";

export function checkJwt(req: Request, policy: JwtPolicy, cache: AuthCache, jwks: JwksSets): AuthGrant | Response | Promise<AuthGrant | Response> {
  const header = req.headers.get("authorization");
  if (header === null || header.length < 8 || header.slice(0, 7).toLowerCase() !== "bearer ") return deny(policy.challenge, req.method);
  const token = header.slice(7).trim();
  if (token === "") return deny(policy.challenge, req.method);

  const cacheKey = policy.cacheId + token;
  const known = cache.jwt.get(cacheKey, performance.now());
  if (known !== undefined) return known;

  const source = policy.source;
  const options: JWTVerifyOptions = {
    algorithms: policy.algorithms as string[],
    clockTolerance: policy.leewaySecs,
    requiredClaims: ["exp"],
    ...(policy.issuer !== null ? { issuer: policy.issuer } : {}),
    ...(policy.audience !== null ? { audience: policy.audience as string | string[] } : {}),
  };
  const verified =
    source.type === "static"
      ? jwtVerify(token, source.key, options)
      : jwtVerify(token, source.type === "jwks" ? source.resolve : jwks.get(source.url).resolve, options);
  return verified.then(
    ({ payload }) => {
      const grant = grantFor(policy, payload);
      const now = performance.now();
      const untilExp = (payload.exp! + policy.leewaySecs) * 1000 - Date.now();
      cache.jwt.set(cacheKey, grant, now + Math.min(JWT_CACHE_MS, untilExp), now);
      return grant;
    },
    (err) => (err instanceof JwksUnavailable ? plain(503, req.method) : deny(policy.invalidChallenge, req.method)),
  );
}

/** X-Auth-Subject from `sub` and the configured claim headers (strings as is, other values JSON). */
export function grantFor(policy: JwtPolicy, payload: JWTPayload): AuthGrant {
  let headers = "";
  if (payload.sub !== undefined) headers += `x-auth-subject: ${headerValue(payload.sub)}\r\n`;
  for (const { claim, header } of policy.claims) {
    const value = payload[claim];
    if (value === undefined) continue;
    headers += `${header}: ${headerValue(typeof value === "string" ? value : JSON.stringify(value))}\r\n`;
  }
  return { headers, drop: policy.drop };
}

const PRINTABLE_ASCII = /^[\x20-\x7e\t]*$/;

/**
 * A claim as a header value. A token is signed, not trusted to be well-formed: a value with line
 * breaks or other control characters would split the upstream request, so such values (and
 * non-ASCII ones) are sent JSON-encoded with \u escapes instead.
 */
function headerValue(text: string): string {
  if (PRINTABLE_ASCII.test(text)) return text.trim();
  return JSON.stringify(text).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function deny(challenge: string, method: string): Response {
  return plain(401, method, "Authentication required", { "www-authenticate": challenge });
}
