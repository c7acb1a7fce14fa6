/**
 * The clocks of app supervision. Defaults are SPEC's (§14.7, §14.8); tests shrink them so a
 * deploy or a crash loop takes a second, not a minute.
 */
export interface AppTimings {
  /**
   * Health wait on deploy (SPEC §14.7 step 3): its length is each app's health_timeout; tests may
   * cap it here. Then the pause between probes and the time limit of each.
   */
  healthWaitMs?: number;
  healthIntervalMs: number;
  healthTimeoutMs: number;
  /** Health monitor period (config.toml `apps.health_check_interval_secs`, SPEC §14.8). */
  monitorIntervalMs: number;
  /** Back-off before the 2nd, 3rd… failover of a crash loop: base, doubling. The 1st is at once. */
  crashBackoffMs: number;
  /** A process that ran this long before dying starts a new crash count. */
  crashStableMs: number;
  /** More consecutive unexpected exits than this and the app stays Failed (SPEC §14.8). */
  maxUnexpectedExits: number;
  /** Container state polling (SPEC §14.5). */
  dockerPollMs: number;
  /** How often slot logs are checked for rotation. */
  logCheckMs: number;
  /** Slot log size that triggers rotation. */
  logRotateBytes: number;
}

export const DEFAULT_TIMINGS: AppTimings = {
  healthIntervalMs: 1000,
  healthTimeoutMs: 5000,
  monitorIntervalMs: 30_000,
  crashBackoffMs: 1000,
  crashStableMs: 60_000,
  maxUnexpectedExits: 3,
  dockerPollMs: 5000,
  logCheckMs: 5000,
  logRotateBytes: 10 * 1024 * 1024,
};
