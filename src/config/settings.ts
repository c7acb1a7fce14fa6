/**
 * config.toml (SPEC §4): the zod schema with every default, so a missing file means the built-in
 * settings. Unknown keys are found by walking the input against the schema's shape and reported
 * as warnings; the values themselves are strict.
 */
import { z } from "zod";
import { parseBind, parseCidr } from "../lib/net.ts";
import { parseSize } from "../lib/size.ts";

const intAtLeast = (min: number, what: string) =>
  z
    .number({ error: `${what} must be an integer` })
    .int({ error: `${what} must be an integer` })
    .min(min, { error: `${what} must be at least ${min}` });
const bind = z.string().refine((v) => parseBind(v) !== null, { error: (i) => `expected "host:port", got '${String(i.input)}'` });
const port = z.number().int().min(0, { error: "port must be 0-65535" }).max(65535, { error: "port must be 0-65535" });
const cidr = z.string().refine((v) => parseCidr(v) !== null, { error: (i) => `'${String(i.input)}' is not an IP address or CIDR` });
const urlPath = z.string().refine((v) => v.startsWith("/"), { error: "a path must start with '/'" });
const size = z
  .union([z.number(), z.string()])
  .refine((v) => parseSize(v) !== null, { error: (i) => `'${String(i.input)}' is not a size (bytes, or like "10MB")` });

/**
 * A Redis URL (SPEC §17.7): redis:// or rediss://, a host, optional ACL user and password. The
 * message never repeats the input, which may hold the password.
 */
const redisUrl = z.string().refine(
  (v) => {
    try {
      const u = new URL(v);
      return (u.protocol === "redis:" || u.protocol === "rediss:") && u.hostname !== "" && /^(\/\d{0,2})?$/.test(u.pathname);
    } catch {
      return false;
    }
  },
  { error: "redis_url must be redis://[user:password@]host[:port][/db] or rediss://… (value not shown: it may hold a password)" },
);

const server = z.strictObject({
  bind: bind.default("0.0.0.0:8080"),
  https_port: port.default(8443),
  worker_threads: z.union([z.literal("auto"), intAtLeast(1, "worker_threads")], { error: 'worker_threads must be "auto" or an integer ≥ 1' }).default("auto"),
  trusted_proxies: z.array(cidr).default([]),
  shutdown_grace_period: intAtLeast(0, "shutdown_grace_period").default(10),
  /** SPEC §5.3: `%2F`/`%5C` in a path are refused (400) unless true; then they stay encoded. */
  allow_encoded_slashes: z.boolean().default(false),
  /** SPEC §5.6: client header names with `_` are dropped unless true (as nginx). */
  underscores_in_headers: z.boolean().default(false),
  /** run/ (control socket, pid file, app state, logs); relative to the config dir (issue 16, SPEC §1). */
  run_dir: z.string().min(1, { error: "run_dir must not be empty" }).optional(),
});

/** The release channel of `soli-proxy update` (SPEC §16.4). */
const update = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: "update.url must be an http(s) URL" }).optional(),
});

const tls = z.strictObject({
  mode: z.enum(["auto", "letsencrypt"], { error: 'tls.mode must be "auto" or "letsencrypt"' }).default("auto"),
  cache_dir: z.string().min(1).default("./certs"),
  force_https: z.boolean().default(false),
  hsts_max_age_seconds: intAtLeast(0, "hsts_max_age_seconds").default(0),
  hsts_include_subdomains: z.boolean().default(false),
});

const letsencrypt = z.strictObject({
  email: z.string().optional(),
  staging: z.boolean().default(false),
  // Choosing tls.mode = "letsencrypt" agrees to the CA's terms, as in the original (SPEC §4).
  terms_agreed: z.boolean().default(true),
  directory_url: z.url({ error: "directory_url must be a URL" }).optional(),
});

const logging = z.strictObject({
  level: z.enum(["trace", "debug", "info", "warn", "error"], { error: "level must be trace, debug, info, warn or error" }).default("info"),
  format: z.enum(["json", "text"], { error: 'format must be "json" or "text"' }).default("json"),
  output: z
    .string()
    .refine((v) => v === "stdout" || v === "stderr" || (v.startsWith("file:") && v.length > 5), { error: 'output must be "stdout", "stderr" or "file:<path>"' })
    .default("stdout"),
  log_endpoints: z.boolean().default(false),
});

const metrics = z.strictObject({
  enabled: z.boolean().default(true),
  endpoint: urlPath.default("/metrics"),
  allow: z.array(cidr).default(["127.0.0.0/8", "::1/128"]),
  /** A host on which metrics and probes are answered even though a rule or app claims it (SPEC §5.2). */
  host: z
    .string()
    .regex(/^[a-z0-9.-]+$/i, { error: "metrics.host must be a host name" })
    .transform((h) => h.toLowerCase())
    .optional(),
});

const health = z.strictObject({
  enabled: z.boolean().default(true),
  liveness_path: urlPath.default("/health/live"),
  readiness_path: urlPath.default("/health/ready"),
});

const limits = z.strictObject({
  max_request_size: size.optional(),
  /** Upstream bodies up to this size are read whole and sent with their Content-Length (README "Limits"). */
  buffer_response_max: size.optional(),
  max_in_flight: intAtLeast(1, "max_in_flight").optional(),
  max_in_flight_per_client: intAtLeast(1, "max_in_flight_per_client").default(256),
  max_upstream_connections: intAtLeast(1, "max_upstream_connections").default(512),
  keep_alive_timeout: intAtLeast(1, "keep_alive_timeout").max(255, { error: "keep_alive_timeout must be 1-255" }).default(10),
  request_timeout: intAtLeast(1, "request_timeout").default(60),
  websocket_idle_timeout_secs: intAtLeast(1, "websocket_idle_timeout_secs").default(300),
  websocket_max_lifetime_secs: intAtLeast(1, "websocket_max_lifetime_secs").default(3600),
  websocket_max_bytes_per_direction: intAtLeast(1, "websocket_max_bytes_per_direction").default(1073741824),
});

const rateLimiting = z
  .strictObject({
    enabled: z.boolean().default(false),
    requests_per_second: z.number().positive({ error: "requests_per_second must be > 0" }).optional(),
    burst_size: intAtLeast(1, "burst_size").optional(),
    /** Unset means "memory", or "redis" when [cluster] is set (SPEC §4); resolved by the settings refinement. */
    backend: z.enum(["memory", "redis"], { error: 'backend must be "memory" or "redis"' }).optional(),
    redis_url: z.string().optional(),
  })
  .superRefine((r, ctx) => {
    if (r.enabled && r.requests_per_second === undefined) {
      ctx.addIssue({ code: "custom", path: ["requests_per_second"], message: "requests_per_second is required when rate limiting is enabled" });
    }
  });

/** [cluster] (SPEC §4, §17): several nodes sharing one Redis. No redis_url, no cluster. */
const cluster = z.strictObject({
  redis_url: redisUrl.optional(),
  name: z
    .string()
    .regex(/^[a-z0-9-]+$/, { error: "cluster.name must match [a-z0-9-]+" })
    .max(64, { error: "cluster.name is at most 64 characters" })
    .default("soli"),
  node_id: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,128}$/, { error: "cluster.node_id must be 1-128 letters, digits, '.', '_' or '-'" })
    .optional(),
  heartbeat_secs: intAtLeast(1, "heartbeat_secs").max(60, { error: "heartbeat_secs must be 1-60" }).default(5),
});

const circuitBreaker = z.strictObject({
  failure_threshold: intAtLeast(1, "failure_threshold").default(5),
  recovery_timeout_secs: intAtLeast(0, "recovery_timeout_secs").default(30),
  success_threshold: intAtLeast(1, "success_threshold").default(2),
  failure_status_codes: z.array(z.number().int().min(100).max(599)).default([502, 503, 504]),
});

const admin = z.strictObject({
  enabled: z.boolean().default(true),
  bind: bind.default("127.0.0.1:9090"),
  api_key: z.string().default(""),
});

const jwt = z
  .strictObject({
    issuer: z.string().optional(),
    audience: z.union([z.string(), z.array(z.string())]).optional(),
    jwks_url: z.url({ error: "jwks_url must be a URL" }).optional(),
    jwks_file: z.string().optional(),
    public_key_file: z.string().optional(),
    secret: z.string().optional(),
    algorithms: z.array(z.string()).optional(),
    leeway_secs: intAtLeast(0, "leeway_secs").default(60),
    claim_headers: z.record(z.string(), z.string()).default({}),
  })
  .superRefine((j, ctx) => {
    const sources = (["jwks_url", "jwks_file", "public_key_file", "secret"] as const).filter((k) => j[k] !== undefined);
    if (sources.length !== 1) {
      ctx.addIssue({
        code: "custom",
        path: [],
        message: `[auth.jwt] needs exactly one key source of jwks_url, jwks_file, public_key_file or secret (found ${sources.length ? sources.join(", ") : "none"})`,
      });
    }
  });

const auth = z
  .strictObject({
    enabled: z.boolean().default(false),
    auth_type: z.enum(["basic", "api_key", "jwt"], { error: "auth_type must be basic, api_key or jwt" }).optional(),
    realm: z.string().default("Restricted"),
    header: z.string().default("X-Api-Key"),
    users: z.record(z.string(), z.string()).default({}),
    api_keys: z.record(z.string(), z.string()).default({}),
    jwt: jwt.optional(),
  })
  .superRefine((a, ctx) => {
    if (a.enabled && !a.auth_type) ctx.addIssue({ code: "custom", path: ["auth_type"], message: "auth_type is required when [auth] enabled = true" });
    if (a.enabled && a.auth_type === "jwt" && !a.jwt) ctx.addIssue({ code: "custom", path: ["jwt"], message: 'auth_type = "jwt" needs an [auth.jwt] table' });
  });

const apps = z.strictObject({
  default_user: z.string().optional(),
  default_group: z.string().optional(),
  health_failure_threshold: intAtLeast(1, "health_failure_threshold").default(1),
  /** Health monitor period (SPEC §14.8 says every 30 s; configurable for operators and tests). */
  health_check_interval_secs: intAtLeast(1, "health_check_interval_secs").default(30),
});

export const settingsSchema = z
  .strictObject({
    server: server.prefault({}),
    tls: tls.prefault({}),
    letsencrypt: letsencrypt.prefault({}),
    logging: logging.prefault({}),
    metrics: metrics.prefault({}),
    health: health.prefault({}),
    limits: limits.prefault({}),
    rate_limiting: rateLimiting.prefault({}),
    circuit_breaker: circuitBreaker.prefault({}),
    admin: admin.prefault({}),
    auth: auth.prefault({}),
    apps: apps.prefault({}),
    cluster: cluster.prefault({}),
    update: update.prefault({}),
  })
  .superRefine((s, ctx) => {
    const clustered = s.cluster.redis_url !== undefined;
    if (s.rate_limiting.backend === "redis" && !clustered) {
      ctx.addIssue({ code: "custom", path: ["rate_limiting", "backend"], message: 'backend = "redis" needs [cluster] redis_url (SPEC §17)' });
    }
    if (s.rate_limiting.redis_url !== undefined && s.rate_limiting.redis_url !== s.cluster.redis_url) {
      const message = clustered
        ? "rate_limiting.redis_url must be the same as cluster.redis_url (or be left out)"
        : "rate_limiting.redis_url needs [cluster] redis_url set to the same URL (SPEC §17)";
      ctx.addIssue({ code: "custom", path: ["rate_limiting", "redis_url"], message });
    }
    if (s.tls.mode === "letsencrypt") {
      if (!s.letsencrypt.email) ctx.addIssue({ code: "custom", path: ["tls", "mode"], message: 'letsencrypt.email is required when tls.mode = "letsencrypt"' });
      if (!s.letsencrypt.terms_agreed) {
        ctx.addIssue({
          code: "custom",
          path: ["letsencrypt", "terms_agreed"],
          message:
            'letsencrypt.terms_agreed = false refuses the CA\'s terms, so no ACME account can be created: remove the key (choosing tls.mode = "letsencrypt" agrees to them) or use tls.mode = "auto"',
        });
      }
    }
  })
  // The backend left out means "memory", or "redis" in cluster mode (SPEC §4).
  .transform((s) => ({
    ...s,
    rate_limiting: { ...s.rate_limiting, backend: s.rate_limiting.backend ?? (s.cluster.redis_url !== undefined ? ("redis" as const) : ("memory" as const)) },
  }));

export type Settings = z.output<typeof settingsSchema>;

/** The rate-limit backend in effect: "redis" by default in cluster mode (SPEC §4). */
export function rateBackend(s: Settings): "memory" | "redis" {
  return s.rate_limiting.backend;
}

/** The settings of a missing config.toml. */
export function defaultSettings(): Settings {
  return settingsSchema.parse({});
}

/** Tables whose keys are user data (names of users, keys, claims), not settings. */
const FREE_TABLES = new Set(["auth.users", "auth.api_keys", "auth.jwt.claim_headers"]);

/**
 * Removes keys the schema does not know, returning the cleaned input and their dotted paths.
 * Unknown keys are warnings (SPEC §4), so they must not fail the strict schema.
 */
export function stripUnknownKeys(input: unknown): { value: unknown; unknown: string[] } {
  const unknown: string[] = [];
  const walk = (value: unknown, schema: z.ZodType, path: string[]): unknown => {
    const shape = objectShape(schema);
    if (!shape || typeof value !== "object" || value === null || Array.isArray(value)) return value;
    if (FREE_TABLES.has(path.join("."))) return value;
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      const child = shape[key];
      if (!child) {
        unknown.push([...path, key].join("."));
        continue;
      }
      out[key] = walk(v, child, [...path, key]);
    }
    return out;
  };
  return { value: walk(input, settingsSchema, []), unknown };
}

/** The object shape behind wrappers (default, optional, prefault, pipe), or null for non-objects. */
function objectShape(schema: z.ZodType): Record<string, z.ZodType> | null {
  let s: z.ZodType = schema;
  for (let i = 0; i < 8; i++) {
    if (s instanceof z.ZodObject) return s.shape as Record<string, z.ZodType>;
    const def = (s as unknown as { _zod: { def: { innerType?: z.ZodType; in?: z.ZodType } } })._zod.def;
    const inner = def.innerType ?? def.in;
    if (!inner) return null;
    s = inner;
  }
  return null;
}
