/**
 * Compiles the authentication policy of each route (SPEC §7.1) and the rate-limit specs (SPEC §8)
 * into the snapshot's frozen data: user name digests, dummy hashes of the right cost, key digests,
 * imported JWT keys, challenge strings and the grants' header lines. Identical policies are built
 * once and shared by the routes that use them. Inputs have passed load-auth.ts.
 */
import { createHash, createSecretKey } from "node:crypto";
import { createLocalJWKSet } from "jose";
import type { AuthMaterial } from "./load-auth.ts";
import { jwtAlgorithms } from "./load-auth.ts";
import type { Rule } from "./model.ts";
import { RATE_LIMIT } from "./rule-checks.ts";
import type { Settings } from "./settings.ts";
import type { ApiKeyPolicy, AuthGrant, AuthPolicy, BasicPolicy, JwtKeySource, JwtPolicy, RateLimitSpec } from "./snapshot.ts";

/**
 * bcrypt hashes of a random password nobody knows, one per cost: an unknown user is verified
 * against the one whose cost matches the configured users, so a miss takes as long as a hit.
 */
const DUMMY_HASHES: Readonly<Record<number, string>> = {
  4: "$2b$04$4roabIAiwIna4EH1TecMsONMWTH7FInRwXf1x35N.u0WPyFBJZxou",
  5: "$2b$05$wR0acwoobKaVUcKQKXKfG.7lQPYlsmO9qOhJu7CMUekFQwJLxYP6u",
  6: "$2b$06$ZbcnEVabIfE8X0oEKeHxSOIb.o97Oezm2sdyDMFfEYP80mfjij5o2",
  7: "$2b$07$X4rE0Ali1.dBUYTkxcxkgeQt6T9N6O71wUQHcLPkUv1/wohObL/Cq",
  8: "$2b$08$6kamG2P43IlOUFzcc7eUQuiRXhrPkaGDu4xgSAd50R7pMbVTwYNfm",
  9: "$2b$09$7RBJwE3ODOBztm6Bd0cJse3esULJX8UCndO/xGHd3A3YvAsqNZlgO",
  10: "$2b$10$vwjua1FUecg.fs8e06zGROeHD7yE3DdAg11l9KWIJx3aqA3iZ1Tgu",
  11: "$2b$11$C/fGEEYIfb7Yn9z0iFHyzek2nd327CyjKbBbu5hDBcno3SSGlNKfK",
  12: "$2b$12$u7c0aWMoXtA0IDvR2KYgMupCySGYjjlUg/TMiZINQGBvKuYbbRvR6",
  13: "$2b$13$jfwOyTZnowUCRtbEH9TR3eomkIcLvB39AtzuubAv9z05Ep3Sbws2i",
};

const sha256 = (text: string): Uint8Array => new Uint8Array(createHash("sha256").update(text, "utf8").digest());
const sha256Hex = (text: string): string => createHash("sha256").update(text, "utf8").digest("hex");
const quoted = (text: string): string => text.replace(/[\\"]/g, "\\$&");

export class PolicyCompiler {
  private readonly built = new Map<string, AuthPolicy>();
  private readonly auth: Settings["auth"];
  /** Lower-case JWT claim headers: never taken from the client (SPEC §5.6 step 4). */
  readonly claimHeaders: ReadonlySet<string> | null;

  constructor(
    settings: Settings,
    private readonly material: AuthMaterial | null = null,
  ) {
    this.auth = settings.auth;
    const claims = Object.values(this.auth.jwt?.claim_headers ?? {}).map((h) => h.toLowerCase());
    this.claimHeaders = claims.length > 0 ? new Set(claims) : null;
  }

  /** SPEC §7.1: the rule's own policy, else `basic` for `@auth` users, else the global one. */
  forRule(rule: Rule): AuthPolicy | null {
    const own = rule.options?.auth ?? (rule.auth.length > 0 ? "basic" : undefined);
    if (own === "none") return null;
    const kind = own ?? (this.auth.enabled ? this.auth.auth_type : undefined);
    if (kind === undefined) return null;
    const realm = rule.options?.realm ?? this.auth.realm;
    switch (kind) {
      case "basic": {
        const users = rule.auth.length > 0 ? rule.auth.map((u) => [u.username, u.hash] as const) : Object.entries(this.auth.users);
        return this.basic(realm, users);
      }
      case "api_key":
        return this.apiKey(realm, rule.options?.keys ?? null);
      case "jwt":
        return this.jwt(realm);
      default:
        throw new Error(`unknown auth policy '${kind}'`);
    }
  }

  /** Managed-app routes get the global policy (SPEC §7.1). */
  forApp(): AuthPolicy | null {
    if (!this.auth.enabled || this.auth.auth_type === undefined) return null;
    return this.forRule({ matcher: { type: "default" }, targets: [], load_balancing: "round-robin", auth: [], headers: [], options: null });
  }

  private once<T extends AuthPolicy>(key: string, build: () => T): T {
    const found = this.built.get(key);
    if (found) return found as T;
    const policy = build();
    this.built.set(key, policy);
    return policy;
  }

  private basic(realm: string, users: readonly (readonly [string, string])[]): BasicPolicy {
    const key = JSON.stringify(["basic", realm, users]);
    return this.once(key, () => {
      const maxCost = users.reduce((m, [, hash]) => Math.max(m, Number(hash.slice(4, 6)) || 0), 4);
      return {
        kind: "basic",
        realm,
        challenge: `Basic realm="${quoted(realm)}"`,
        users: users.map(([name, hash]) => ({ name, nameDigest: sha256(name), hash, grant: subjectGrant(name, this.claimHeaders) })),
        dummyHash: DUMMY_HASHES[Math.min(13, maxCost)] ?? DUMMY_HASHES[12]!,
        cacheSalt: sha256Hex(users.map(([name, hash]) => `${name}:${hash}`).join("\n")),
        drop: this.claimHeaders,
      };
    });
  }

  private apiKey(realm: string, names: readonly string[] | null): ApiKeyPolicy {
    const key = JSON.stringify(["api_key", realm, names]);
    return this.once(key, () => {
      const header = this.auth.header.toLowerCase();
      const drop = new Set([header, ...(this.claimHeaders ?? [])]);
      const entries = Object.entries(this.auth.api_keys).filter(([name]) => names === null || names.includes(name));
      return {
        kind: "api_key",
        realm,
        challenge: `ApiKey realm="${quoted(realm)}", header="${quoted(this.auth.header)}"`,
        header,
        keys: entries.map(([name, value]) => ({
          name,
          digest: value.startsWith("sha256:") ? new Uint8Array(Buffer.from(value.slice(7), "hex")) : sha256(value),
          grant: subjectGrant(name, drop),
        })),
      };
    });
  }

  private jwt(realm: string): JwtPolicy {
    return this.once(JSON.stringify(["jwt", realm]), () => {
      const jwt = this.auth.jwt;
      if (!jwt) throw new Error("auth: jwt needs an [auth.jwt] table");
      let source: JwtKeySource;
      if (jwt.jwks_url !== undefined) source = { type: "remote", url: jwt.jwks_url };
      else if (jwt.jwks_file !== undefined) {
        if (!this.material?.jwks) throw new Error(`jwks_file ${jwt.jwks_file} was not loaded`);
        source = { type: "jwks", resolve: createLocalJWKSet(this.material.jwks) };
      } else if (jwt.secret !== undefined) {
        source = { type: "static", key: this.material?.key ?? createSecretKey(Buffer.from(jwt.secret, "utf8")) };
      } else {
        if (!this.material?.key) throw new Error(`public_key_file ${jwt.public_key_file} was not loaded`);
        source = { type: "static", key: this.material.key };
      }
      return {
        kind: "jwt",
        realm,
        challenge: `Bearer realm="${quoted(realm)}"`,
        invalidChallenge: `Bearer realm="${quoted(realm)}", error="invalid_token"`,
        source,
        algorithms: jwtAlgorithms(jwt),
        issuer: jwt.issuer ?? null,
        audience: jwt.audience ?? null,
        leewaySecs: jwt.leeway_secs,
        claims: Object.entries(jwt.claim_headers).map(([claim, header]) => ({ claim, header: header.toLowerCase() })),
        drop: this.claimHeaders,
        cacheId: sha256Hex(JSON.stringify([jwt, this.material?.jwks ?? null, this.material?.key?.export({ format: "jwk" }) ?? null])),
      };
    });
  }
}

function subjectGrant(subject: string, drop: ReadonlySet<string> | null): AuthGrant {
  return { headers: `x-auth-subject: ${subject}\r\n`, drop };
}

/** [rate_limiting] as a bucket spec, or null when disabled. */
export function globalRateLimit(settings: Settings): RateLimitSpec | null {
  const r = settings.rate_limiting;
  if (!r.enabled || r.requests_per_second === undefined) return null;
  return { perSecond: r.requests_per_second, burst: r.burst_size ?? Math.max(1, Math.ceil(r.requests_per_second)) };
}

/** `10/s`, `600/m burst 20` → a bucket spec. Without `burst` the capacity is the number written. */
export function parseRateLimit(text: string | undefined): RateLimitSpec | null {
  if (text === undefined) return null;
  const m = RATE_LIMIT.exec(text.trim());
  if (!m) return null;
  const n = Number(m[1]);
  return { perSecond: m[2] === "m" ? n / 60 : n, burst: m[3] !== undefined ? Number(m[3]) : Math.max(1, Math.ceil(n)) };
}
