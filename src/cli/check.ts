/**
 * `soli-proxy check` (SPEC §16.2): loads everything a start-up would, binds nothing, prints every
 * issue (errors first) and a summary line. Exit 0 without errors, else 1.
 */
import { resolve } from "node:path";
import { discoverApps } from "../apps/discover.ts";
import { formatIssue, sortIssues, type ConfigIssue } from "../config/issues.ts";
import { configFiles, loadConfig } from "../config/load.ts";

export interface CheckOptions {
  conf: string;
  sitesDir: string;
  out?: (line: string) => void;
}

export function check(opts: CheckOptions): number {
  const out = opts.out ?? ((line: string) => console.log(line));
  const files = configFiles(opts.conf);
  const loaded = loadConfig(files);
  const issues: ConfigIssue[] = [...loaded.issues];
  const apps = discoverApps(resolve(opts.sitesDir));
  issues.push(...apps.issues);

  for (const issue of sortIssues(issues)) out(formatIssue(issue));
  const errors = issues.filter((i) => i.severity === "error").length;
  const warnings = issues.length - errors;
  if (errors > 0) {
    out(`${errors} error${errors === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"}`);
    return 1;
  }
  const rules = loaded.conf?.rules.length ?? 0;
  out(`ok: ${rules} rule${rules === 1 ? "" : "s"}, ${apps.apps.length} app${apps.apps.length === 1 ? "" : "s"}, 0 certificates`);
  return 0;
}
