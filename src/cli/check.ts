/**
 * `soli-proxy check` (SPEC §16.2): loads everything a start-up would, binds nothing, prints every
 * issue (errors first) and a summary line. Exit 0 without errors, else 1.
 */
import { resolve } from "node:path";
import { resolveAppConfig } from "../apps/config.ts";
import { discoverApps } from "../apps/discover.ts";
import { runIssues } from "../apps/run-check.ts";
import { formatIssue, sortIssues, type ConfigIssue } from "../config/issues.ts";
import { configFiles, loadConfig } from "../config/load.ts";
import { rulesShadowedByApps } from "../config/shadow.ts";
import { scanStore } from "../tls/store.ts";

export interface CheckOptions {
  conf: string;
  sitesDir: string;
  out?: (line: string) => void;
  /** The uid the proxy would run as (tests); this process's unless given. */
  uid?: number;
}

export function check(opts: CheckOptions): number {
  const out = opts.out ?? ((line: string) => console.log(line));
  const files = configFiles(opts.conf);
  const loaded = loadConfig(files);
  const issues: ConfigIssue[] = [...loaded.issues];
  const apps = discoverApps(resolve(opts.sitesDir));
  issues.push(...apps.issues);
  // Who each app would run as, and whether that user can run its program (SPEC §14.4).
  if (loaded.settings) {
    const defaults = { dev: false, defaultUser: loaded.settings.apps.default_user, defaultGroup: loaded.settings.apps.default_group };
    const resolved = apps.apps.map((app) => resolveAppConfig(app, defaults));
    for (const app of resolved) issues.push(...runIssues(app, opts.uid ?? process.getuid?.() ?? -1));
    // Host rules that an app of the same host always beats (SPEC §3.7, §5.3).
    if (loaded.parsed) issues.push(...rulesShadowedByApps(loaded.parsed.conf.rules, resolved, (i) => loaded.parsed?.positions.get(`rules.${i}`), files.conf));
  }
  // The certificate pairs, judged by the same code as start-up and reloads (SPEC §12.1).
  const store = loaded.settings ? scanStore(resolve(files.dir, loaded.settings.tls.cache_dir)) : { certificates: [], refused: [] };
  for (const bad of store.refused) issues.push({ file: bad.file, severity: "error", message: `certificate for '${bad.name}' refused: ${bad.error}` });
  const now = Date.now();
  for (const cert of store.certificates) {
    if (cert.notAfter.getTime() <= now)
      issues.push({ file: cert.certFile, severity: "warning", message: `certificate for '${cert.name}' expired on ${cert.notAfter.toISOString()}` });
  }

  for (const issue of sortIssues(issues)) out(formatIssue(issue));
  const errors = issues.filter((i) => i.severity === "error").length;
  const warnings = issues.length - errors;
  if (errors > 0) {
    out(`${errors} error${errors === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"}`);
    return 1;
  }
  const rules = loaded.conf?.rules.length ?? 0;
  const certs = store.certificates.length;
  out(`ok: ${rules} rule${rules === 1 ? "" : "s"}, ${apps.apps.length} app${apps.apps.length === 1 ? "" : "s"}, ${certs} certificate${certs === 1 ? "" : "s"}`);
  return 0;
}
