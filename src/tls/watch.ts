/**
 * Watches tls.cache_dir for changed `.pem` files (SPEC §12.3) and calls `onChange` once things
 * settle: a copy of a certificate and its key arrives as several events, and a rescan between the
 * two would refuse a half-replaced pair for nothing. Temp files of atomic writes (dot files) are
 * ignored; the rename that completes them is what counts.
 */
import { watch, type FSWatcher } from "node:fs";

export interface DirectoryWatch {
  close(): void;
}

export function watchCertificateDir(dir: string, onChange: () => void, onError: (err: Error) => void, debounceMs = 200): DirectoryWatch {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const fire = () => {
    timer = null;
    onChange();
  };
  const watcher: FSWatcher = watch(dir, { persistent: false }, (_event, file) => {
    const name = file?.toString() ?? null;
    if (name !== null && (name.startsWith(".") || !name.endsWith(".pem"))) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(fire, debounceMs);
  });
  watcher.on("error", onError);
  return {
    close() {
      if (timer) clearTimeout(timer);
      watcher.close();
    },
  };
}
