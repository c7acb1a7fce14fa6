/**
 * The admin API's front door (SPEC §11.1), in this order: rate limit → auth → OPTIONS → CSRF.
 * The control socket skips all but the OPTIONS refusal (SPEC §15.2): only the proxy's own user can
 * reach it (run/ is 0700, the socket 0600).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { canonicalHost, hostFromAuthority, isLoopback, parseBind } from "../lib/net.ts";
import { isIP } from "node:net";
import { failure } from "./envelope.ts";
import type { AdminEnv, AdminPort, BasicCredentials } from "./port.ts";
import type { Sessions } from "./ui/session.ts";

const BASIC_CACHE_MS = 5 * 60_000;
const BASIC_CACHE_MAX = 1024;
/** A bcrypt hash no password matches, verified when the user name is wrong so timing says nothing. */
const DUMMY_HASH = "$2b$10$sSPTswXZP0I7WlOMHmVvmu9FsdvxFUSCdWCAqMpI5G3Jh8O/JN5Du";

/** Dashboard paths anyone may load: the sign-in page and static assets, which hold no data (SPEC §18). */
const PUBLIC_UI = /^\/ui\/(?:login$|assets\/)/;

/** `sessions` lets a dashboard session cookie stand in for the api_key (SPEC §18). */
export function adminGuard(port: AdminPort, sessions?: Sessions): MiddlewareHandler<{ Bindings: AdminEnv }> {
  const verified = new Map<string, number>();

  const basicOk = async (header: string, creds: BasicCredentials): Promise<boolean> => {
    const key = sha256(`${header}\n${creds.user}\n${creds.hash}`).toString("hex");
    const until = verified.get(key);
    if (until !== undefined && until > Date.now()) return true;
    let decoded: string;
    try {
      decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
    } catch {
      return false;
    }
    const colon = decoded.indexOf(":");
    if (colon < 0) return false;
    const userOk = constantTimeEqual(decoded.slice(0, colon), creds.user);
    // bcrypt counts the first 72 bytes; Bun would pre-hash longer input instead (ARCHITECTURE §9).
    const password = Buffer.from(decoded.slice(colon + 1), "utf8").subarray(0, 72);
    const passwordOk = await Bun.password.verify(password, userOk ? creds.hash : DUMMY_HASH).catch(() => false);
    if (!userOk || !passwordOk) return false;
    if (verified.size >= BASIC_CACHE_MAX) verified.clear();
    verified.set(key, Date.now() + BASIC_CACHE_MS);
    return true;
  };

  return async function guard(c, next) {
    const env = c.env as AdminEnv | undefined;
    const local = env?.local === true;
    const req = c.req.raw;
    let limitHeaders: Record<string, string> = {};

    // DNS rebinding (SPEC §11.1): a page whose name rebinds to 127.0.0.1 is same-origin with the
    // admin and may set any header, but its requests carry its own name as Host.
    if (!local && !adminHostAllowed(req.headers.get("host"), port.current().settings.admin.bind)) {
      return failure(421, "Misdirected Request: the admin API answers only loopback names, IP addresses and the admin.bind host");
    }

    if (!local && port.rateLimit) {
      const verdict = port.rateLimit(req, env?.peer ?? "");
      limitHeaders = verdict.headers;
      if (!verdict.allowed) return failure(429, "Rate limit exceeded", {}, limitHeaders);
    }

    if (!local && !PUBLIC_UI.test(c.req.path)) {
      const apiKey = port.current().settings.admin.api_key;
      const basic = port.basicCredentials();
      if (apiKey !== "" || basic) {
        const presented = req.headers.get("x-api-key");
        const authorization = req.headers.get("authorization") ?? "";
        const allowed =
          (apiKey !== "" && presented !== null && constantTimeEqual(presented, apiKey)) ||
          (basic !== null && /^basic /i.test(authorization) && (await basicOk(authorization, basic))) ||
          (sessions !== undefined && (await sessions.valid(c, apiKey)));
        if (!allowed && apiKey !== "" && sessions && isDashboardPage(req.method, c.req.path)) {
          // A browser without a session goes to the sign-in page rather than to a JSON error.
          return new Response(null, { status: 303, headers: { ...limitHeaders, location: "/ui/login" } });
        }
        if (!allowed) {
          return failure(401, "Unauthorized", {}, { ...limitHeaders, ...(basic ? { "www-authenticate": 'Basic realm="Admin"' } : {}) });
        }
      } else if (env?.peer && !isLoopback(env.peer)) {
        // An open admin serves only this machine, even if a reload removed the last credential
        // of an admin that listens on a public address.
        return failure(401, "Unauthorized", {}, limitHeaders);
      }
    }

    // Refusing OPTIONS refuses every CORS preflight, so no browser page can script a write.
    if (req.method === "OPTIONS") return failure(405, "Method not allowed", {}, { ...limitHeaders, allow: "GET, HEAD, POST, PUT, DELETE" });

    // A cross-site form or image cannot set a custom header; a script that can was let in by CORS,
    // which this API never grants. An API key in a header proves the same.
    if (!local && req.method !== "GET" && req.method !== "HEAD" && !req.headers.has("x-api-key") && !req.headers.has("x-requested-with")) {
      return failure(403, "cross-site request rejected", {}, limitHeaders);
    }

    await next();
    if (Object.keys(limitHeaders).length === 0) return;
    // A proxied `_admin` answer may carry immutable headers; copy it once to add ours.
    const res = new Response(c.res.body, c.res);
    for (const [name, value] of Object.entries(limitHeaders)) res.headers.set(name, value);
    c.res = res;
  };
}

/**
 * Host values the admin answers on TCP: `localhost` and `*.localhost` (RFC 6761 §6.3), any IP
 * literal (no DNS name is involved, so nothing can rebind it), and the host of `admin.bind`.
 * A request without Host (HTTP/1.0) comes from no browser and passes.
 */
export function adminHostAllowed(header: string | null, bind: string): boolean {
  if (header === null || header === "") return true;
  const host = hostFromAuthority(header);
  if (host === null) return false;
  if (host === "localhost" || host.endsWith(".localhost") || isIP(host) !== 0) return true;
  const configured = parseBind(bind)?.host;
  return configured !== undefined && canonicalHost(configured) === host;
}

function isDashboardPage(method: string, path: string): boolean {
  return (method === "GET" || method === "HEAD") && (path === "/" || (path.startsWith("/ui/") && !path.startsWith("/ui/events/") && path !== "/ui/basic"));
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** Equal-length digests, so neither the content nor the length of the secret leaks through timing. */
export function constantTimeEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}
