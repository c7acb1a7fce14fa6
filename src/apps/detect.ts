/**
 * start_script auto-detection (SPEC §14.3), used only when app.infos has no start_script:
 * a LuaOnBeans binary, or the Soli app layout. Both are probed at `/` unless health_check is set.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";

export interface DetectedScript {
  script: string;
  healthCheck: string;
}

export function detectStartScript(appDir: string): DetectedScript | null {
  if (existsSync(join(appDir, "luaonbeans.org"))) return { script: "./luaonbeans.org -D . -p $PORT -s", healthCheck: "/" };
  if (isDir(join(appDir, "app")) && isDir(join(appDir, "app", "models"))) {
    return { script: "soli serve . --port $PORT --workers $WORKERS", healthCheck: "/" };
  }
  return null;
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
