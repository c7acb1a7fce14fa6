/**
 * The one door for configuration changes (ARCHITECTURE §3, SPEC §13). The file watcher, SIGUSR1 /
 * SIGHUP, POST /api/v1/reload and admin writes all come here; each runs load → validate →
 * compile → swap, one at a time. A configuration with any error changes nothing: the old snapshot
 * keeps serving and the issues are logged and returned.
 */
import { existsSync, readFileSync } from "node:fs";
import { appliedConfig, type AppliedConfig } from "../config/applied.ts";
import { formatIssue, hasErrors, type ConfigIssue, type ReloadResult } from "../config/issues.ts";
import { loadConfig, type ConfigFiles } from "../config/load.ts";
import { parseProxyConf } from "../config/syntax.ts";
import type { ProxyConf } from "../config/model.ts";
import type { Settings } from "../config/settings.ts";
import type { Snapshot } from "../config/snapshot.ts";
import type { AuthMaterial } from "../config/load-auth.ts";
import { writeFileAtomic } from "../lib/atomic-write.ts";
import type { Logger } from "../lib/log.ts";
import { keepRestartOnly } from "./restart-settings.ts";

export type { AppliedConfig };

export interface ReloaderDeps {
  files: ConfigFiles;
  log: () => Logger;
  /** The configuration serving at start-up (config/applied.ts). */
  initial: AppliedConfig;
  /** Builds the next snapshot; the runtime adds what it owns (e.g. the app routing table). */
  compile(conf: ProxyConf, settings: Settings, version: number, auth: AuthMaterial | null): Snapshot;
  /** Makes `next.snapshot` current (one assignment), retires what only the old one named, and hands `next` to its other readers. */
  swap(next: AppliedConfig): void;
  /** Told about every attempt (proxy_config_reloads_total, SPEC §10). */
  onResult?(ok: boolean): void;
  /** Resolves once what was swapped in serves everywhere (the worker processes, SPEC §15.1); awaited before a change is reported done. */
  settled?(): Promise<void>;
}

export class Reloader {
  private applied: AppliedConfig;
  /** What the last load read, applied or not: a watcher event with the same content is no change. */
  private seen: { conf: string | null; toml: string | null };
  private queue: Promise<unknown> = Promise.resolve();
  private lastError: string | null = null;
  /** Host rules already reported as shadowed by an app (rule key and app), said once each. */
  private readonly shadowSaid = new Set<string>();
  /** Reload attempts by result (proxy_config_reloads_total, SPEC §10). */
  readonly counts = { success: 0, failure: 0 };

  constructor(private readonly deps: ReloaderDeps) {
    this.applied = deps.initial;
    this.seen = { conf: deps.initial.confText, toml: deps.initial.tomlText };
  }

  get current(): AppliedConfig {
    return this.applied;
  }

  /** Formatted errors of the last reload, or null when it succeeded. */
  get lastReloadError(): string | null {
    return this.lastError;
  }

  /** Re-reads both files and applies them if they validate. */
  reload(): Promise<ReloadResult> {
    return this.serial(() => this.apply());
  }

  /** For the watcher: reloads only when a file's content differs from what was last read. */
  reloadIfChanged(): Promise<ReloadResult | null> {
    return this.serial(() => {
      const { conf, toml } = this.deps.files;
      if (readOrNull(conf) === this.seen.conf && readOrNull(toml) === this.seen.toml) {
        // Said at debug so an operator (and a test) can tell "seen, nothing new" from "not seen".
        this.deps.log().debug("config files unchanged; nothing to reload");
        return null;
      }
      return this.apply();
    });
  }

  /**
   * An admin write (SPEC §11.5): `build` makes the new proxy.conf text from the applied one; it is
   * written atomically (keeping the file's mode) and reloaded. When the reload is rejected the
   * previous file is put back. `build` may throw; nothing is written then.
   */
  updateConf(build: (applied: AppliedConfig) => string): Promise<ReloadResult> {
    return this.serial(() => {
      const text = build(this.applied);
      const path = this.deps.files.conf;
      const before = readOrNull(path);
      writeFileAtomic(path, text);
      const result = this.apply();
      if (!result.ok && before !== null) {
        writeFileAtomic(path, before);
        this.seen.conf = before; // our own restore is not a change to reload
        this.deps.log().warn({ file: path }, "restored the previous proxy.conf after a rejected admin write");
      }
      return result;
    });
  }

  /**
   * Compiles the applied configuration again and swaps it in: for inputs the runtime owns that are
   * not in the files (the managed apps' routing table). Serialized with reloads like any change.
   */
  recompile(reason: string): Promise<number> {
    return this.serial(() => {
      const { snapshot, conf, settings, auth } = this.applied;
      const compiled = this.deps.compile(conf, settings, snapshot.version + 1, auth);
      this.swapIn(appliedConfig({ ...this.applied, snapshot: compiled }));
      this.deps.log().info({ version: compiled.version }, reason);
      return compiled.version;
    });
  }

  /** `next` serves from here on, and is what `current` returns. */
  private swapIn(next: AppliedConfig): void {
    this.deps.swap(next);
    this.applied = next;
    this.warnShadowedByApps(next.snapshot);
  }

  /**
   * A host rule for a managed app's host never runs, nor does its auth (apps match first, SPEC
   * §5.3): `check` says so, and so does the log when a reload or a new app makes it true.
   */
  private warnShadowedByApps(snapshot: Snapshot): void {
    const { domain, apps } = snapshot.routes;
    let positions: ReturnType<typeof parseProxyConf>["positions"] | null = null;
    for (const [host, rule] of domain) {
      const app = apps.get(host)?.app;
      if (app === undefined || app === null || this.shadowSaid.has(`${rule.key}\0${app}`)) continue;
      this.shadowSaid.add(`${rule.key}\0${app}`);
      // Rare: the positions are worked out again only to name the line.
      positions ??= parseProxyConf(this.applied.confText, this.deps.files.conf).positions;
      const file = this.deps.files.conf;
      const message = `rule '${rule.key}' can never match (nor its auth): the managed app ${app} answers that host first`;
      this.deps.log().warn(formatIssue({ file, ...(positions.get(`rules.${rule.index}`) ?? {}), severity: "warning", message }));
    }
  }

  /** Runs jobs one after another, whatever their outcome, so two writes never interleave. */
  private serial<T>(job: () => T): Promise<T> {
    const settled = this.deps.settled;
    const run = settled ? this.queue.then(job).then((result) => settled().then(() => result)) : this.queue.then(job);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private apply(): ReloadResult {
    const { files, log } = this.deps;
    const running = this.applied;
    const next = loadConfig(files);
    this.seen = { conf: next.confText, toml: next.tomlText };
    if (hasErrors(next.issues) || !next.conf || !next.settings || next.confText === null) return this.reject(next.issues);
    for (const issue of next.issues) log().warn(formatIssue(issue));

    const { settings, changed } = keepRestartOnly(running.settings, next.settings);
    for (const key of changed) log().warn({ key }, `${key} changed; restart to apply`);
    let compiled: Snapshot;
    try {
      compiled = this.deps.compile(next.conf, settings, running.snapshot.version + 1, next.auth);
    } catch (err) {
      return this.reject([{ file: files.conf, severity: "error", message: `cannot compile the configuration: ${(err as Error).message}` }]);
    }
    this.swapIn(appliedConfig({ snapshot: compiled, conf: next.conf, settings, confText: next.confText, tomlText: next.tomlText, auth: next.auth }));
    this.lastError = null;
    this.counts.success++;
    this.deps.onResult?.(true);
    log().info({ version: compiled.version }, `config v${compiled.version} applied`);
    return { ok: true, version: compiled.version };
  }

  private reject(issues: ConfigIssue[]): ReloadResult {
    const errors = issues.filter((i) => i.severity === "error");
    this.lastError = errors.map(formatIssue).join("\n");
    this.counts.failure++;
    this.deps.onResult?.(false);
    this.deps.log().error({ issues: issues.map(formatIssue) }, `config reload rejected, keeping v${this.applied.snapshot.version}`);
    return { ok: false, issues };
  }
}

function readOrNull(path: string): string | null {
  try {
    return existsSync(path) ? readFileSync(path, "utf8") : null;
  } catch {
    return null;
  }
}
