/**
 * Watches proxy.conf and config.toml (SPEC §13). The directory is watched, not the files, because
 * editors and config managers replace a file by renaming another over it, which ends a watch on
 * the old inode. Events are debounced; whether anything really changed is decided by the
 * reloader, which compares the content with what it last read.
 */
import { watch, type FSWatcher } from "node:fs";
import { basename } from "node:path";
import type { ConfigFiles } from "../config/load.ts";
import type { Logger } from "../lib/log.ts";

export const CONFIG_DEBOUNCE_MS = 200;

export interface ConfigWatcher {
  close(): void;
}

export function watchConfigFiles(files: ConfigFiles, onChange: () => void, log: () => Logger, debounceMs = CONFIG_DEBOUNCE_MS): ConfigWatcher {
  const names = new Set([basename(files.conf), basename(files.toml)]);
  let timer: ReturnType<typeof setTimeout> | null = null;
  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(files.dir, { persistent: false }, (_event, filename) => {
      // No name: the platform could not say which file. `..data`: a Kubernetes ConfigMap swap.
      if (filename && !names.has(String(filename)) && !String(filename).startsWith("..")) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        onChange();
      }, debounceMs);
    });
    watcher.on("error", (err) => log().error({ dir: files.dir, err: err.message }, "config watcher failed; reload with SIGHUP or POST /api/v1/reload"));
  } catch (err) {
    log().error({ dir: files.dir, err: (err as Error).message }, "cannot watch the config dir; reload with SIGHUP or POST /api/v1/reload");
  }
  return {
    close() {
      if (timer) clearTimeout(timer);
      watcher?.close();
    },
  };
}
