/**
 * Settings a reload cannot apply (SPEC §13): listeners, admin bind, TLS mode and store, ACME
 * account, rate-limit backend, log sink. A reload keeps their running values and names each one
 * that differs, so the operator knows a restart is due; nothing is silently ignored.
 */
import type { Settings } from "../config/settings.ts";

/** A whole table (`server`) or one key (`admin.bind`). */
const RESTART_ONLY = [
  "server",
  "admin.enabled",
  "admin.bind",
  "tls.mode",
  "tls.cache_dir",
  "letsencrypt",
  "rate_limiting.backend",
  "rate_limiting.redis_url",
  "cluster",
  "logging.format",
  "logging.output",
] as const;

/** `next` with every restart-only value put back to `running`, and the dotted keys that differed. */
export function keepRestartOnly(running: Settings, next: Settings): { settings: Settings; changed: string[] } {
  const settings = structuredClone(next) as unknown as Record<string, Record<string, unknown>>;
  const was = running as unknown as Record<string, Record<string, unknown>>;
  const wanted = next as unknown as Record<string, Record<string, unknown>>;
  const changed: string[] = [];
  for (const entry of RESTART_ONLY) {
    const [table, key] = entry.split(".") as [string, string | undefined];
    const keys = key ? [key] : [...new Set([...Object.keys(was[table] ?? {}), ...Object.keys(wanted[table] ?? {})])];
    for (const k of keys) {
      const before = was[table]?.[k];
      if (!Bun.deepEquals(before, wanted[table]?.[k], true)) changed.push(`${table}.${k}`);
      const target = settings[table]!;
      if (before === undefined) delete target[k];
      else target[k] = structuredClone(before);
    }
  }
  return { settings: settings as unknown as Settings, changed };
}
