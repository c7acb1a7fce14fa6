/**
 * Which entries of the sites directory are apps (SPEC §14.1): directories (symlinks followed)
 * not starting with `.`, named like a domain (containing a `.`) or internal (starting with `_`).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ConfigIssue } from "../config/issues.ts";
import { parseAppInfos, type AppInfos } from "./infos.ts";

/** Directory names used as the domain: DNS labels joined by dots. */
const DIR_DOMAIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/;
/** App names end up in paths and container names. */
const NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

export interface DiscoveredApp {
  /** Directory name. */
  dir: string;
  path: string;
  infos: AppInfos;
}

export function discoverApps(sitesDir: string): { apps: DiscoveredApp[]; issues: ConfigIssue[] } {
  const apps: DiscoveredApp[] = [];
  const issues: ConfigIssue[] = [];
  if (!existsSync(sitesDir)) return { apps, issues };
  for (const entry of readdirSync(sitesDir).sort()) {
    if (entry.startsWith(".")) continue;
    const path = resolve(sitesDir, entry);
    let isDir = false;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) continue;
    if (!entry.includes(".") && !entry.startsWith("_")) {
      issues.push({
        file: path,
        severity: "warning",
        message: `'${entry}' skipped: an app directory is named after its domain (with a '.') or starts with '_'`,
      });
      continue;
    }
    const infosFile = join(path, "app.infos");
    const text = existsSync(infosFile) ? readFileSync(infosFile, "utf8") : "";
    const { infos, issues: found } = parseAppInfos(text, infosFile);
    issues.push(...found);
    if (!infos) continue;
    if (infos.domain === undefined && !entry.startsWith("_") && !DIR_DOMAIN.test(entry)) {
      issues.push({ file: path, severity: "error", message: `'${entry}' is not a domain name; set domain in app.infos or rename the directory` });
      continue;
    }
    const name = infos.name ?? entry;
    if (!NAME.test(name)) {
      issues.push({ file: path, severity: "error", message: `'${name}' cannot be an app name: use letters, digits, '.', '_' and '-', not starting with '.'` });
      continue;
    }
    const twin = apps.find((a) => (a.infos.name ?? a.dir) === name);
    if (twin) {
      issues.push({ file: infosFile, severity: "error", message: `app name '${name}' is already used by ${twin.path}` });
      continue;
    }
    const domain = (infos.domain ?? (entry.startsWith("_") ? "" : entry)).toLowerCase();
    const sameDomain = domain ? apps.find((a) => (a.infos.domain ?? (a.dir.startsWith("_") ? "" : a.dir)).toLowerCase() === domain) : undefined;
    if (sameDomain) {
      issues.push({ file: infosFile, severity: "error", message: `domain '${domain}' is already served by ${sameDomain.path}` });
      continue;
    }
    apps.push({ dir: entry, path, infos });
  }
  return { apps, issues };
}
