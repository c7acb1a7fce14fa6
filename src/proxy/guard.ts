/**
 * Phase 2: the route's auth policy (SPEC §7, §5.2 step 11). Answers with a grant (headers to add
 * upstream, client headers to drop) or a Response (401, or 503 when JWT keys are unavailable).
 * Basic with a cached verification and API keys answer synchronously; a bcrypt or JWT signature
 * check answers with a promise.
 */
import type { AuthGrant, AuthPolicy } from "../config/snapshot.ts";
import type { AuthCache } from "../state/auth-cache.ts";
import type { JwksSets } from "../state/jwks.ts";
import { checkApiKey } from "./auth/api-key.ts";
import { checkBasic } from "./auth/basic.ts";
import { checkJwt } from "./auth/jwt.ts";

export type Verdict = AuthGrant | Response;

/** `client` is the clientKey() of the request: failed attempts are throttled per client. */
export function guard(req: Request, policy: AuthPolicy, state: { readonly auth: AuthCache; readonly jwks: JwksSets }, client = ""): Verdict | Promise<Verdict> {
  switch (policy.kind) {
    case "basic":
      return checkBasic(req, policy, state.auth, client);
    case "api_key":
      return checkApiKey(req, policy, state.auth.throttle, client);
    case "jwt":
      return checkJwt(req, policy, state.auth, state.jwks);
  }
}
