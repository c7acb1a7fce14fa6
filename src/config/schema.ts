/**
 * zod schemas for proxy.conf's plain object (SPEC §3, §11.3). The same schema checks a parsed
 * file and a JSON write through the admin API, so both doors accept exactly the same rules.
 * Messages are written for the person editing proxy.conf.
 */
import { z } from "zod";
import { isHeaderName, isHeaderValue, REFUSED_BLOCK_HEADERS } from "../lib/headers.ts";
import { LB_STRATEGIES, type ProxyConf } from "./model.ts";

export const TARGET_SCHEMES: ReadonlySet<string> = new Set(["http", "https", "ws", "wss", "redirect"]);
export const HEADER_VARIABLES: ReadonlySet<string> = new Set(["client_ip", "scheme", "host"]);
const BCRYPT = /^\$2[aby]\$(0[4-9]|1[0-3])\$[./A-Za-z0-9]{53}$/;
export const RATE_LIMIT = /^(\d+(?:\.\d+)?)\s*\/\s*(s|m)(?:\s+burst\s+(\d+))?$/;

/** `(?P<name>` (Rust/Python) is accepted as JavaScript's `(?<name>` (SPEC §3.2). */
export function jsPattern(pattern: string): string {
  return pattern.replaceAll("(?P<", "(?<");
}

export function regexError(pattern: string): string | null {
  try {
    new RegExp(jsPattern(pattern));
    return null;
  } catch (err) {
    return `invalid regex '${pattern}': ${(err as Error).message.replace(/^Invalid regular expression: /, "")}`;
  }
}

/** Why a host written as a rule source is not acceptable, or null when it is (SPEC §3.2). */
export function hostError(host: string): string | null {
  if (host === "") return "missing host";
  if (/^\[[0-9a-fA-F:.]+\]$/.test(host)) return null;
  if (/^\[.*\]:\d*$/.test(host) || /^[^:[\]]+:\d*$/.test(host)) {
    return `a rule source cannot include a port ('${host}'): routing ignores the port`;
  }
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) {
    return host.split(".").every((o) => Number(o) <= 255) ? null : `invalid IPv4 address '${host}'`;
  }
  // One trailing dot is the same host (SPEC §5.3: rule hosts compare without it), as in a request.
  const name = host.length > 1 && host.endsWith(".") ? host.slice(0, -1) : host;
  const labels = name.split(".");
  const ok = name.length <= 253 && labels.every((l) => l.length > 0 && l.length <= 63 && /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$/i.test(l));
  return ok ? null : `invalid host '${host}': use a DNS name or an IP address`;
}

/** The parsed target URL, or why it is not acceptable (SPEC §3.3, §3.4): one URL parse serves the check and the normal form. */
function checkTargetUrl(raw: string): URL | string {
  if (raw === "") return "empty target (a stray comma?)";
  if (/\s/.test(raw)) return `target '${raw}' contains a space; comments must be on their own line`;
  if (raw.includes("#")) return `'#' is not allowed in target '${raw}'; comments must be on their own line`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `invalid target URL '${raw}'`;
  }
  const scheme = url.protocol.slice(0, -1);
  if (!TARGET_SCHEMES.has(scheme)) {
    return `unsupported scheme '${scheme}:' in '${raw}' (use http, https, ws, wss or redirect)`;
  }
  if (url.hostname === "") return `target '${raw}' has no host`;
  if (scheme === "redirect") {
    const host = raw.slice("redirect://".length).split(/[/?]/)[0] ?? "";
    if (!/^[A-Za-z0-9.\-:[\]]+$/.test(host)) return `redirect host '${host}' may contain only letters, digits, '.', '-', ':', '[' and ']'`;
  }
  return url;
}

/** Group references in a regex target: `$1`, `${1}`, `${name}` (`$$` is a literal dollar). */
export function templateGroups(template: string): (number | string)[] {
  const refs: (number | string)[] = [];
  for (let i = 0; i < template.length; i++) {
    if (template[i] !== "$") continue;
    const next = template[i + 1];
    if (next === "$") {
      i++;
    } else if (next === "{") {
      const close = template.indexOf("}", i);
      if (close < 0) continue;
      const name = template.slice(i + 2, close);
      refs.push(/^\d+$/.test(name) ? Number(name) : name);
      i = close;
    } else if (next !== undefined && next >= "0" && next <= "9") {
      let j = i + 1;
      while (j < template.length && template[j]! >= "0" && template[j]! <= "9") j++;
      refs.push(Number(template.slice(i + 1, j)));
      i = j - 1;
    }
  }
  return refs;
}

/** The path-and-query part of a target URL as written, where regex substitution applies. */
export function templatePart(raw: string): string {
  const afterScheme = raw.indexOf("//");
  const slash = raw.indexOf("/", afterScheme + 2);
  const question = raw.indexOf("?", afterScheme + 2);
  const start = slash < 0 ? question : question < 0 ? slash : Math.min(slash, question);
  return start < 0 ? "" : raw.slice(start);
}

function headerValueError(value: string): string | null {
  if (!isHeaderValue(value)) return "header value contains a control character";
  for (let i = 0; i < value.length; i++) {
    if (value[i] !== "$") continue;
    if (value[i + 1] === "$") {
      i++;
      continue;
    }
    const name = /^[A-Za-z_]+/.exec(value.slice(i + 1))?.[0] ?? "";
    if (!HEADER_VARIABLES.has(name)) {
      return `unknown variable '$${name}' (use $client_ip, $scheme, $host, or $$ for a literal '$')`;
    }
    i += name.length;
  }
  return null;
}

const matcherSchema = z.discriminatedUnion(
  "type",
  [
    z.object({ type: z.literal("default") }),
    z.object({
      type: z.literal("exact"),
      value: z.string().refine((v) => v.startsWith("/"), { error: "an exact path must start with '/'" }),
    }),
    z.object({
      type: z.literal("prefix"),
      value: z.string().refine((v) => v.startsWith("/") && v.endsWith("/"), { error: "a prefix must start and end with '/' (written '/p/*')" }),
    }),
    z.object({
      type: z.literal("regex"),
      value: z.string().superRefine((v, ctx) => {
        const err = v === "" ? "empty regex" : regexError(v);
        if (err) ctx.addIssue({ code: "custom", message: err });
      }),
    }),
    z.object({
      type: z.literal("domain"),
      value: z.string().superRefine((v, ctx) => {
        const err = hostError(v);
        if (err) ctx.addIssue({ code: "custom", message: err });
      }),
    }),
    z.object({
      type: z.literal("domain_path"),
      domain: z.string().superRefine((v, ctx) => {
        const err = hostError(v);
        if (err) ctx.addIssue({ code: "custom", message: err });
      }),
      path: z.string().refine((v) => v.startsWith("/") && v.endsWith("/") && v.length > 1, { error: "a host path must look like '/p/'" }),
    }),
  ],
  { error: (iss) => (iss.code === "invalid_union" ? `unknown matcher type: ${String((iss.input as { type?: unknown })?.type)}` : undefined) },
);

/** WHATWG-normalized form (`http://h:1` → `http://h:1/`), keeping `${name}` readable for regex targets. */
export function normalizeTargetUrl(raw: string | URL): string {
  return (typeof raw === "string" ? new URL(raw) : raw).href.replace(/\$%7B(\w+)%7D/g, "$${$1}");
}

const targetSchema = z.object({
  url: z.string().transform((v, ctx) => {
    const checked = checkTargetUrl(v);
    if (typeof checked !== "string") return normalizeTargetUrl(checked);
    ctx.addIssue({ code: "custom", message: checked });
    return z.NEVER;
  }),
  weight: z
    .number({ error: "weight must be an integer from 0 to 255" })
    .int({ error: "weight must be an integer from 0 to 255" })
    .min(0, { error: "weight must be an integer from 0 to 255" })
    .max(255, { error: "weight must be an integer from 0 to 255" })
    .default(100),
});

const headerOpSchema = z.object({ name: z.string(), value: z.string().nullable() }).superRefine((h, ctx) => {
  if (!isHeaderName(h.name)) ctx.addIssue({ code: "custom", path: ["name"], message: `invalid header name '${h.name}'` });
  else if (REFUSED_BLOCK_HEADERS.has(h.name.toLowerCase())) {
    ctx.addIssue({ code: "custom", path: ["name"], message: `header '${h.name}' cannot be changed in a headers block: the proxy manages it` });
  }
  const err = h.value === null ? null : headerValueError(h.value);
  if (err) ctx.addIssue({ code: "custom", path: ["value"], message: err });
});

const userSchema = z.object({
  username: z.string().refine((u) => u !== "" && !u.includes(":"), { error: "@auth needs a user name without ':' (@auth:USER:HASH)" }),
  hash: z.string(),
});

export const optionsSchema = z.object({
  auth: z
    .string()
    .refine((v) => ["basic", "api_key", "jwt", "none"].includes(v), { error: (i) => `bad auth value '${String(i.input)}' (use basic, api_key, jwt or none)` })
    .optional(),
  realm: z
    .string()
    .refine((v) => !/["\\\0-\x1f]/.test(v), { error: "realm cannot contain quotes, backslashes or control characters" })
    .optional(),
  keys: z.array(z.string().min(1)).optional(),
  rate_limit: z
    .string()
    .refine((v) => RATE_LIMIT.test(v) && Number(RATE_LIMIT.exec(v)?.[1]) > 0, {
      error: (i) => `bad rate_limit '${String(i.input)}' (expected N/s or N/m, optionally followed by 'burst M')`,
    })
    .optional(),
});

export const ruleSchema = z
  .object({
    matcher: matcherSchema,
    targets: z.array(targetSchema).min(1, { error: "empty target list: a rule needs at least one target after '->'" }),
    load_balancing: z.enum(LB_STRATEGIES as [string, ...string[]], {
      error: (i) => `unknown @lb strategy '${String(i.input)}' (use round-robin, weighted or failover)`,
    }),
    auth: z.array(userSchema).default([]),
    headers: z.array(headerOpSchema).default([]),
    options: optionsSchema.nullable().default(null),
  })
  .superRefine((rule, ctx) => {
    rule.auth.forEach((u, i) => {
      if (!BCRYPT.test(u.hash)) {
        ctx.addIssue({
          code: "custom",
          path: ["auth", i, "hash"],
          message: `bad @auth hash for user '${u.username}': expected a bcrypt hash ($2a$, $2b$ or $2y$, cost 04-13); make one with 'soli-proxy hash-password'`,
        });
      }
    });
    const redirects = rule.targets.filter((t) => t.url.startsWith("redirect:")).length;
    if (redirects > 0 && redirects < rule.targets.length) {
      ctx.addIssue({ code: "custom", path: ["targets"], message: "a rule's targets must be all redirect:// or none of them" });
    }
    if (rule.matcher.type === "regex" && regexError(rule.matcher.value) === null) {
      const re = new RegExp(jsPattern(rule.matcher.value) + "|");
      const groupCount = (re.exec("")?.length ?? 1) - 1;
      const names = new Set([...jsPattern(rule.matcher.value).matchAll(/\(\?<([A-Za-z_][A-Za-z0-9_]*)>/g)].map((m) => m[1]));
      rule.targets.forEach((t, i) => {
        for (const ref of templateGroups(templatePart(t.url))) {
          const exists = typeof ref === "number" ? ref <= groupCount : names.has(ref);
          if (!exists) {
            ctx.addIssue({
              code: "custom",
              path: ["targets", i, "url"],
              message: `target refers to group '${ref}' which the regex does not have (it has ${groupCount} group${groupCount === 1 ? "" : "s"}${names.size ? `: ${[...names].join(", ")}` : ""})`,
            });
          }
        }
      });
    }
  });

export const proxyConfSchema = z.object({
  headers: z.array(headerOpSchema).default([]),
  rules: z.array(ruleSchema),
});

export type ValidProxyConf = z.output<typeof proxyConfSchema> & ProxyConf;
