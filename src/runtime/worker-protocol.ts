/**
 * The messages between the primary and its worker processes (SPEC §15.1), over Bun's IPC channel
 * (structured clone). The primary owns every input of a snapshot and ships it; each worker compiles
 * the same version and swaps. Workers answer with acknowledgements and a report every second.
 *
 *   worker                         primary
 *     ready ───────────────────────►
 *     ◄───────────────────────────── start (ports, config, certificates, tokens)
 *     listening | failed ──────────►
 *     ◄── config / challenge (id) ── … ack (id) ──►     reload, app switch / ACME token
 *     ◄── certificates, breaker-reset
 *     report (every 1 s) ──────────►
 *     metrics-page? (id) ──────────► ◄── metrics-page (id)   the sum, for metrics.endpoint
 *     app-failover ────────────────►
 *     rate? (batch) ───────────────► ◄── rate (batch)        tokens from the machine's buckets
 */
import { createPublicKey, createSecretKey, type KeyObject } from "node:crypto";
import type { TLSOptions } from "bun";
import type { JSONWebKeySet } from "jose";
import type { AppliedConfig } from "../config/applied.ts";
import type { AuthMaterial } from "../config/load-auth.ts";
import type { AppRouteInput } from "../config/compile.ts";
import type { ProxyConf } from "../config/model.ts";
import type { Settings } from "../config/settings.ts";
import type { AppTrafficDelta } from "../state/app-metrics.ts";
import type { BreakerView } from "../state/breakers.ts";
import type { MetricsDelta } from "../state/metrics.ts";
import type { RateAnswer, RateAsk } from "./primary-buckets.ts";

/** The environment variable that makes the executable a worker; its value is the worker index. */
export const WORKER_ENV = "SOLI_PROXY_INTERNAL_WORKER";

/**
 * Everything a snapshot is compiled from, validated by the primary: the rules and settings as
 * applied (restart-only keys keep their running values, SPEC §13), the app routing table and the
 * [auth.jwt] key material, so a worker reads no file and compiles exactly what the primary did.
 */
export interface ConfigPayload {
  version: number;
  dev: boolean;
  conf: ProxyConf;
  settings: Settings;
  apps: AppRouteInput[];
  files: { conf: string; toml: string; dir: string };
  auth: PackedAuth | null;
}

/** AuthMaterial in a form IPC carries (KeyObject is not cloneable). */
export interface PackedAuth {
  key: { type: "secret"; base64: string } | { type: "public"; pem: string } | null;
  jwks: JSONWebKeySet | null;
}

/** A certificate entry as Bun.serve takes it; PEM text only. */
export type TlsEntry = Pick<TLSOptions, "cert" | "key" | "serverName">;

export type ToWorker =
  | {
      type: "start";
      index: number;
      hostname: string;
      /** 0 only for the first worker; the others bind the port it got. */
      httpPort: number;
      httpsPort: number;
      config: ConfigPayload;
      certificates: TlsEntry[];
      tokens: [string, string][];
      /** Breaker resets so far: a new worker's breakers are fresh, so it is as good as reset. */
      epoch: number;
    }
  | { type: "config"; id: number; config: ConfigPayload }
  | { type: "challenge"; id: number; token: string; keyAuthorization: string | null }
  | { type: "certificates"; entries: TlsEntry[] }
  /** `origin` null resets every breaker; `epoch` counts resets so stale reports are ignored. */
  | { type: "breaker-reset"; epoch: number; origin: string | null }
  | { type: "metrics-page"; id: number; text: string }
  /** The primary's bucket took a token (machine-wide rate limit, SPEC §15.1). */
  | RateAnswer;

/** What a worker recorded since its last report, and its live figures. */
export interface WorkerReport {
  inFlight: number;
  metrics: MetricsDelta;
  apps: AppTrafficDelta;
  breakers: Record<string, BreakerView>;
  /** The last breaker-reset epoch this worker applied. */
  epoch: number;
}

export type FromWorker =
  | { type: "ready" }
  | { type: "listening"; http: number; https: number; pid: number }
  | { type: "failed"; error: string }
  | { type: "ack"; id: number }
  | ({ type: "report" } & WorkerReport)
  | ({ type: "metrics-page?"; id: number } & WorkerReport)
  | { type: "app-failover"; app: string; port: number }
  | RateAsk;

/** What a worker compiles `applied.snapshot` from: the applied record's rules, settings and key material. */
export function configPayload(applied: AppliedConfig, apps: readonly AppRouteInput[]): ConfigPayload {
  const { snapshot, auth } = applied;
  return {
    version: snapshot.version,
    dev: snapshot.dev,
    conf: applied.conf,
    settings: applied.settings,
    apps: [...apps],
    files: snapshot.files,
    auth: auth === null ? null : { key: packKey(auth.key), jwks: auth.jwks },
  };
}

export function unpackAuth(packed: PackedAuth | null): AuthMaterial | null {
  if (packed === null) return null;
  const key = packed.key;
  if (key === null) return { key: null, jwks: packed.jwks };
  return { key: key.type === "secret" ? createSecretKey(Buffer.from(key.base64, "base64")) : createPublicKey(key.pem), jwks: packed.jwks };
}

function packKey(key: KeyObject | null): PackedAuth["key"] {
  if (key === null) return null;
  if (key.type === "secret") return { type: "secret", base64: key.export().toString("base64") };
  return { type: "public", pem: key.export({ type: "spki", format: "pem" }).toString() };
}
