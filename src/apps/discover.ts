/**
 * Which entries of the sites directory are apps (SPEC §14.1): directories (symlinks followed)
 * not starting with `.`, named like a domain (containing a `.`) or internal (starting with `_`).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ConfigIssue } from "../config/issues.ts";
import { parseAppInfos, type AppInfos } from "./infos.ts";

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
    const path = join(sitesDir, entry);
    let isDir = false;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) continue;
    if (!entry.includes(".") && !entry.startsWith("_")) {
      issues.push({ file: path, severity: "warning", message: `'${entry}' skipped: an app directory is named after its domain (with a '.') or starts with '_'` });
      continue;
    }
    const infosFile = join(path, "app.infos");
    const text = existsSync(infosFile) ? readFileSync(infosFile, "utf8") : "";
    const { infos, issues: found } = parseAppInfos(text, infosFile);
    issues.push(...found);
    if (infos) apps.push({ dir: entry, path, infos });
  }
  return { apps, issues };
}
