/**
 * The sites watcher (SPEC §14.8): one recursive watch on the sites directory, debounced 500 ms.
 * Every batch triggers a rediscovery; in --dev it also names the apps whose own files changed,
 * outside node_modules/, .git/, tmp/, target/ and *.log, so they can be restarted.
 */
import { watch, type FSWatcher } from "node:fs";

const IGNORED_DIRS = new Set(["node_modules", ".git", "tmp", "target"]);

export interface SitesChange {
  /** Apps (directory names) with a changed file that is not ignored. */
  touched: Set<string>;
}

/** Which app directory a change belongs to, or null for the sites dir itself and ignored paths. */
export function touchedApp(relative: string): string | null {
  const parts = relative.split(/[\\/]/).filter((p) => p !== "");
  if (parts.length < 2) return null; // the app directory itself appeared or vanished
  if (parts.slice(1, -1).some((p) => IGNORED_DIRS.has(p)) || IGNORED_DIRS.has(parts[1]!)) return null;
  if (parts[parts.length - 1]!.endsWith(".log")) return null;
  return parts[0]!;
}

/** Watches `dir`; returns the function that stops watching. */
export function watchSites(dir: string, onChange: (change: SitesChange) => void, debounceMs = 500, onError?: (err: Error) => void): () => void {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let touched = new Set<string>();
  let watcher: FSWatcher;
  try {
    watcher = watch(dir, { recursive: true }, (_event, filename) => {
      const app = filename ? touchedApp(String(filename)) : null;
      if (app) touched.add(app);
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        const batch = touched;
        touched = new Set();
        onChange({ touched: batch });
      }, debounceMs);
    });
  } catch (err) {
    onError?.(err as Error);
    return () => {};
  }
  watcher.on("error", (err) => onError?.(err));
  return () => {
    if (timer) clearTimeout(timer);
    watcher.close();
  };
}
