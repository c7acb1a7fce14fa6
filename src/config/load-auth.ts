/**
 * Load-time checks of the authentication settings that span both files or need disk (SPEC §7):
 * bcrypt hashes in [auth.users], API keys in [auth.api_keys], the [auth.jwt] key source and
 * algorithms, claim header names, and rules whose `auth:` needs settings that are missing. The key
 * files named by [auth.jwt] are read here (part of loading, ARCHITECTURE §3 step 1) and handed to
 * compile.ts as AuthMaterial, so compiling never touches disk and never fails.
 */
import { createPublicKey, createSecretKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { JSONWebKeySet } from "jose";
import { HOP_BY_HOP, isHeaderName } from "../lib/headers.ts";
import type { ConfigIssue } from "./issues.ts";
import type { ProxyConf } from "./model.ts";
import type { Settings } from "./settings.ts";
import type { PositionMap } from "./syntax.ts";
import { tomlLocator } from "./toml-position.ts";

/** Key material read from the files [auth.jwt] names, already checked. */
export interface AuthMaterial {
  /** The public key from `public_key_file`, or the `secret`. */
  readonly key: KeyObject | null;
  /** The key set from `jwks_file`. */
  readonly jwks: JSONWebKeySet | null;
}

export const BCRYPT_HASH = /^\$2[aby]\$(0[4-9]|1[0-3])\$[./A-Za-z0-9]{53}$/;
export const SHA256_KEY = /^sha256:[0-9a-fA-F]{64}$/;
const CONTROL = /[\x00-\x1f\x7f]/;
const HMAC_ALGORITHMS = new Set(["HS256", "HS384", "HS512"]);
const PUBLIC_KEY_ALGORITHMS = new Set(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"]);
/** Headers a claim may not be forwarded as: framing, routing and the proxy's own identity headers. */
const CLAIM_HEADER_REFUSED = new Set([...HOP_BY_HOP, "te", "host", "content-length", "x-auth-subject", "authorization", "x-forwarded-for", "x-real-ip"]);

/** The algorithms a JWT policy accepts: configured, else the SPEC §7.4 default for its key source. */
export function jwtAlgorithms(jwt: NonNullable<Settings["auth"]["jwt"]>): string[] {
  return jwt.algorithms ?? (jwt.secret !== undefined ? ["HS256"] : ["RS256", "ES256"]);
}

export interface AuthCheckInput {
  conf: ProxyConf | null;
  settings: Settings | null;
  /** The config dir: key files resolve against it. */
  dir: string;
  confFile: string;
  tomlFile: string;
  tomlText: string | null;
  positions: PositionMap | null;
}

export function checkAuth(input: AuthCheckInput): { material: AuthMaterial; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const material: { key: KeyObject | null; jwks: JSONWebKeySet | null } = { key: null, jwks: null };
  const { settings, conf } = input;
  if (!settings) return { material, issues };
  let locate: ReturnType<typeof tomlLocator> | null = null;
  const tomlIssue = (path: string[], severity: ConfigIssue["severity"], message: string) => {
    if (input.tomlText !== null) locate ??= tomlLocator(input.tomlText);
    const pos = locate?.(path);
    issues.push({ file: input.tomlFile, ...(pos ?? {}), path: path.join("."), severity, message: pos ? message : `${path.join(".")}: ${message}` });
  };
  const auth = settings.auth;

  for (const [user, hash] of Object.entries(auth.users)) {
    // The name is forwarded as X-Auth-Subject, so it must also be a valid header value.
    if (user === "" || user.includes(":") || CONTROL.test(user)) {
      tomlIssue(["auth", "users", user], "error", `user name ${JSON.stringify(user)} cannot be empty or contain ':' or control characters`);
    }
    if (!BCRYPT_HASH.test(hash)) {
      tomlIssue(
        ["auth", "users", user],
        "error",
        `bad hash for user '${user}': expected a bcrypt hash ($2a$, $2b$ or $2y$, cost 04-13); make one with 'soli-proxy hash-password'`,
      );
    }
  }
  for (const [name, value] of Object.entries(auth.api_keys)) {
    if (name === "" || CONTROL.test(name))
      tomlIssue(["auth", "api_keys", name], "error", `API key name ${JSON.stringify(name)} cannot be empty or contain control characters`);
    if (value.startsWith("sha256:")) {
      if (!SHA256_KEY.test(value))
        tomlIssue(["auth", "api_keys", name], "error", `API key '${name}': 'sha256:' must be followed by 64 hex digits; make it with 'soli-proxy hash-key'`);
    } else if (value === "") {
      tomlIssue(["auth", "api_keys", name], "error", `API key '${name}' is empty`);
    } else {
      tomlIssue(["auth", "api_keys", name], "warning", `API key '${name}' is stored in plain text; store 'soli-proxy hash-key' output (sha256:…) instead`);
    }
  }
  if (!isHeaderName(auth.header)) tomlIssue(["auth", "header"], "error", `auth.header '${auth.header}' is not a valid header name`);

  const jwt = auth.jwt;
  if (jwt) {
    const algorithms = jwtAlgorithms(jwt);
    const allowed = jwt.secret !== undefined ? HMAC_ALGORITHMS : PUBLIC_KEY_ALGORITHMS;
    for (const alg of algorithms) {
      if (!allowed.has(alg)) {
        const kind = jwt.secret !== undefined ? "a secret signs HS256, HS384 or HS512" : "public keys verify RS*, PS*, ES* or EdDSA";
        tomlIssue(["auth", "jwt", "algorithms"], "error", `algorithm '${alg}' cannot be used with this key source (${kind})`);
      }
    }
    if (algorithms.length === 0) tomlIssue(["auth", "jwt", "algorithms"], "error", "algorithms cannot be empty");
    if (jwt.secret !== undefined) {
      if (jwt.secret === "") tomlIssue(["auth", "jwt", "secret"], "error", "secret cannot be empty");
      else material.key = createSecretKey(Buffer.from(jwt.secret, "utf8"));
    }
    if (jwt.public_key_file !== undefined) {
      const path = resolve(input.dir, jwt.public_key_file);
      const text = readText(path, (m) => tomlIssue(["auth", "jwt", "public_key_file"], "error", m));
      if (text !== null) {
        try {
          const key = createPublicKey(text);
          if (key.type !== "public") throw new Error("not a public key");
          material.key = key;
        } catch (err) {
          tomlIssue(["auth", "jwt", "public_key_file"], "error", `${path} is not a PEM public key: ${(err as Error).message}`);
        }
      }
    }
    if (jwt.jwks_file !== undefined) {
      const path = resolve(input.dir, jwt.jwks_file);
      const text = readText(path, (m) => tomlIssue(["auth", "jwt", "jwks_file"], "error", m));
      if (text !== null) {
        const problem = jwksProblem(text);
        if (typeof problem === "string") tomlIssue(["auth", "jwt", "jwks_file"], "error", `${path}: ${problem}`);
        else material.jwks = problem;
      }
    }
    for (const [claim, header] of Object.entries(jwt.claim_headers)) {
      if (!isHeaderName(header)) tomlIssue(["auth", "jwt", "claim_headers", claim], "error", `claim '${claim}': '${header}' is not a valid header name`);
      else if (CLAIM_HEADER_REFUSED.has(header.toLowerCase())) {
        tomlIssue(["auth", "jwt", "claim_headers", claim], "error", `claim '${claim}' cannot be forwarded as '${header}': the proxy manages that header`);
      }
    }
  }

  if (conf) {
    conf.rules.forEach((rule, i) => {
      const options = rule.options;
      if (!options) return;
      const at = (key: string) => input.positions?.get(`rules.${i}.options.${key}`) ?? input.positions?.get(`rules.${i}.options`);
      const policy = options.auth ?? (rule.auth.length > 0 ? "basic" : auth.enabled ? auth.auth_type : undefined);
      if (options.auth === "jwt" && !jwt) {
        issues.push({
          file: input.confFile,
          ...(at("auth") ?? {}),
          severity: "error",
          message: "auth: jwt needs an [auth.jwt] table in config.toml (SPEC §7.4)",
        });
      }
      for (const name of options.keys ?? []) {
        if (!(name in auth.api_keys)) {
          issues.push({
            file: input.confFile,
            ...(at("keys") ?? {}),
            severity: "warning",
            message: `keys: '${name}' is not in [auth.api_keys] of config.toml`,
          });
        }
      }
      if (options.keys && policy !== "api_key") {
        issues.push({ file: input.confFile, ...(at("keys") ?? {}), severity: "warning", message: "keys: only applies to auth: api_key" });
      }
    });
  }
  return { material, issues };
}

function readText(path: string, fail: (message: string) => void): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    fail(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    return null;
  }
}

/** The key set in a JWKS document, or what is wrong with it. */
export function jwksProblem(text: string): JSONWebKeySet | string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  const keys = (doc as { keys?: unknown })?.keys;
  if (!Array.isArray(keys)) return 'a JWKS document needs a "keys" array';
  if (keys.length === 0) return "the key set has no keys";
  for (const [i, k] of keys.entries()) {
    if (typeof k !== "object" || k === null || typeof (k as { kty?: unknown }).kty !== "string") return `keys[${i}] has no "kty"`;
  }
  return doc as JSONWebKeySet;
}
