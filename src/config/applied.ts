/**
 * The configuration as applied: the snapshot in service beside what it was compiled from. The
 * snapshot is shaped for the request path and carries nothing raw; the rules and settings as
 * written, and the text they were read from, live here, for the readers that are not the request
 * path: the admin API, reloads and recompiles, the worker processes, the apps, logging and TLS.
 * runtime/reloader.ts makes one per applied change and keeps the current one.
 */
import { deepFreeze } from "./compile.ts";
import type { AuthMaterial } from "./load-auth.ts";
import type { ProxyConf } from "./model.ts";
import type { Settings } from "./settings.ts";
import type { Snapshot } from "./snapshot.ts";

export interface AppliedConfig {
  readonly snapshot: Snapshot;
  /** The rules as written (admin API, the base of admin writes and recompiles). */
  readonly conf: ProxyConf;
  /** config.toml as applied: restart-only keys keep their running values (SPEC §13). */
  readonly settings: Settings;
  /** The proxy.conf text the rules were read from. */
  readonly confText: string;
  /** The config.toml text read with it, or null when there is none. */
  readonly tomlText: string | null;
  /** Key material read with it ([auth.jwt] files), reused when the runtime recompiles. */
  readonly auth: AuthMaterial | null;
}

/** The record, frozen with its rules and settings: every reader shares them and none may change them. */
export function appliedConfig(parts: AppliedConfig): AppliedConfig {
  deepFreeze(parts.conf);
  deepFreeze(parts.settings);
  return Object.freeze({ ...parts });
}
