/**
 * zod schemas for proxy.conf's plain object (SPEC §3, §11.3), for input whose shape is unknown: a
 * JSON write through the admin API. Every value check is rule-checks.ts's, which also checks a
 * parsed file directly (its shape is right by construction), so both doors accept exactly the same
 * rules with the same messages. Messages are written for the person editing proxy.conf.
 */
import { z } from "zod";
import { LB_STRATEGIES, type ProxyConf, type Rule } from "./model.ts";
import {
  authValueError,
  checkTargetUrl,
  EMPTY_TARGETS_ERROR,
  EXACT_ERROR,
  headerOpProblems,
  hostError,
  hostPathError,
  isAuthValue,
  isRateLimit,
  lbError,
  PREFIX_ERROR,
  rateLimitError,
  realmError,
  regexSourceError,
  ruleProblems,
  usernameError,
  WEIGHT_ERROR,
  WEIGHT_MAX,
} from "./rule-checks.ts";

/** A string checked by one of rule-checks.ts's checks (null when acceptable). */
const checkedString = (problem: (value: string) => string | null) =>
  z.string().superRefine((v, ctx) => {
    const message = problem(v);
    if (message) ctx.addIssue({ code: "custom", message });
  });

const matcherSchema = z.discriminatedUnion(
  "type",
  [
    z.object({ type: z.literal("default") }),
    z.object({ type: z.literal("exact"), value: z.string().refine((v) => v.startsWith("/"), { error: EXACT_ERROR }) }),
    z.object({ type: z.literal("prefix"), value: z.string().refine((v) => v.startsWith("/") && v.endsWith("/"), { error: PREFIX_ERROR }) }),
    z.object({ type: z.literal("regex"), value: checkedString(regexSourceError) }),
    z.object({ type: z.literal("domain"), value: checkedString(hostError) }),
    z.object({ type: z.literal("domain_path"), domain: checkedString(hostError), path: checkedString(hostPathError) }),
  ],
  { error: (iss) => (iss.code === "invalid_union" ? `unknown matcher type: ${String((iss.input as { type?: unknown })?.type)}` : undefined) },
);

const targetSchema = z.object({
  url: z.string().transform((v, ctx) => {
    const checked = checkTargetUrl(v);
    if (typeof checked !== "string") return checked.normal;
    ctx.addIssue({ code: "custom", message: checked });
    return z.NEVER;
  }),
  weight: z.number({ error: WEIGHT_ERROR }).int({ error: WEIGHT_ERROR }).min(0, { error: WEIGHT_ERROR }).max(WEIGHT_MAX, { error: WEIGHT_ERROR }).default(100),
});

const headerOpSchema = z
  .object({ name: z.string(), value: z.string().nullable() })
  .superRefine((h, ctx) => headerOpProblems(h, (path, message) => ctx.addIssue({ code: "custom", path: [...path], message })));

const userSchema = z.object({ username: checkedString(usernameError), hash: z.string() });

export const optionsSchema = z.object({
  auth: z
    .string()
    .refine(isAuthValue, { error: (i) => authValueError(i.input) })
    .optional(),
  realm: checkedString(realmError).optional(),
  keys: z.array(z.string().min(1)).optional(),
  rate_limit: z
    .string()
    .refine(isRateLimit, { error: (i) => rateLimitError(i.input) })
    .optional(),
});

export const ruleSchema = z
  .object({
    matcher: matcherSchema,
    targets: z.array(targetSchema).min(1, { error: EMPTY_TARGETS_ERROR }),
    load_balancing: z.enum(LB_STRATEGIES as [string, ...string[]], { error: (i) => lbError(i.input) }),
    auth: z.array(userSchema).default([]),
    headers: z.array(headerOpSchema).default([]),
    options: optionsSchema.nullable().default(null),
  })
  .superRefine((rule, ctx) => ruleProblems(rule as Rule, (path, message) => ctx.addIssue({ code: "custom", path: [...path], message })));

export const proxyConfSchema = z.object({
  headers: z.array(headerOpSchema).default([]),
  rules: z.array(ruleSchema),
});

export type ValidProxyConf = z.output<typeof proxyConfSchema> & ProxyConf;
