/**
 * An app's effective configuration: app.infos with its defaults, the [apps] defaults of
 * config.toml, the detected start script (SPEC §14.3) and the hosts it answers for (§14.9).
 */
import { resolve } from "node:path";
import type { DiscoveredApp } from "./discover.ts";
import { detectStartScript } from "./detect.ts";
import { parseDockerOptions } from "./docker-options.ts";
import { withDevFlag } from "./command.ts";
import type { AppInfos } from "./infos.ts";

export type Slot = "blue" | "green";
export const SLOTS: readonly Slot[] = ["blue", "green"];
export const otherSlot = (slot: Slot): Slot => (slot === "blue" ? "green" : "blue");

export interface DockerConfig {
  readonly image: string;
  /** Validated `docker_options` (SPEC §14.5), one `--flag=value` per element. */
  readonly options: readonly string[];
  readonly network: string;
}

export interface AppConfig {
  readonly name: string;
  /** Absolute app directory: cwd of the app and of its scripts. */
  readonly dir: string;
  /** Routed host; null for `_`-prefixed apps without one (e.g. `_admin`). */
  readonly domain: string | null;
  /** `--dev` alias (`shop.example.org` → `shop.example.test`), null outside dev mode. */
  readonly devAlias: string | null;
  /** Every host the app answers for: domain, `www.` form, dev alias (SPEC §14.9). */
  readonly hosts: readonly string[];
  readonly startScript: string | null;
  readonly stopScript: string | null;
  readonly healthCheck: string;
  /** How long a new slot may take to answer its health check on deploy (SPEC §14.2). */
  readonly healthTimeoutSecs: number;
  readonly gracefulTimeoutSecs: number;
  /** drain_delay, capped to half the graceful timeout when it is not below it (SPEC §14.2). */
  readonly drainDelaySecs: number;
  readonly portRange: readonly [number, number];
  readonly workers: number;
  readonly user: string | null;
  readonly group: string | null;
  readonly docker: DockerConfig | null;
  /** `env` of app.infos (SPEC §14.2). */
  readonly env: Readonly<Record<string, string>>;
  /** Absolute path of `env_file`, read at each start; null without one. */
  readonly envFile: string | null;
  /** app.infos as written, for the admin API's `config` object. */
  readonly infos: AppInfos;
}

export interface AppDefaults {
  dev: boolean;
  defaultUser?: string | undefined;
  defaultGroup?: string | undefined;
}

export function resolveAppConfig(found: DiscoveredApp, defaults: AppDefaults): AppConfig {
  const infos = found.infos;
  const name = infos.name ?? found.dir;
  const internal = found.dir.startsWith("_");
  const domain = (infos.domain ?? (internal ? null : found.dir))?.toLowerCase() ?? null;
  const alias = defaults.dev && domain ? devAlias(domain) : null;
  const detected = infos.start_script === undefined ? detectStartScript(found.path) : null;
  const script = infos.start_script ?? detected?.script ?? null;
  const graceful = infos.graceful_timeout;
  const docker = infos.docker_image ? parseDockerOptions(infos.docker_options, found.path) : null;
  return {
    name,
    dir: found.path,
    domain,
    devAlias: alias,
    hosts: domain ? [domain, `www.${domain}`, ...(alias ? [alias] : [])] : [],
    startScript: script === null ? null : withDevFlag(script, defaults.dev),
    stopScript: infos.stop_script ?? null,
    healthCheck: infos.health_check ?? detected?.healthCheck ?? "/health",
    healthTimeoutSecs: infos.health_timeout,
    gracefulTimeoutSecs: graceful,
    drainDelaySecs: infos.drain_delay >= graceful ? Math.floor(graceful / 2) : infos.drain_delay,
    portRange: [infos.port_range_start, infos.port_range_end],
    workers: infos.workers,
    user: infos.user ?? defaults.defaultUser ?? null,
    group: infos.group ?? defaults.defaultGroup ?? null,
    // infos.ts already refused options outside the allow-list, so `ok` holds here.
    env: infos.env,
    envFile: infos.env_file === undefined ? null : resolve(found.path, infos.env_file),
    docker: infos.docker_image && docker?.ok ? { image: infos.docker_image, options: docker.argv, network: infos.docker_network } : null,
    infos,
  };
}

/** The `--dev` alias: the last label replaced by `test`; none for `.test` and `.localhost` names. */
export function devAlias(domain: string): string | null {
  const dot = domain.lastIndexOf(".");
  if (dot <= 0 || domain.endsWith(".test") || domain.endsWith(".localhost")) return null;
  return `${domain.slice(0, dot)}.test`;
}
