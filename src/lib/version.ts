/**
 * The version soli-proxy reports (`-V`, `update`, and the admin status): package.json's, unless
 * the build defined SOLI_PROXY_BUILD_VERSION (scripts/build.ts --version), which release and test
 * builds use to stamp a binary without editing package.json.
 */
import pkg from "../../package.json" with { type: "json" };

declare const SOLI_PROXY_BUILD_VERSION: string | undefined;

export const VERSION: string = typeof SOLI_PROXY_BUILD_VERSION === "string" ? SOLI_PROXY_BUILD_VERSION : pkg.version;

/**
 * What `-V` prints (SPEC §2): the runtime part tells this program from the original Rust
 * soli-proxy, whose `-V` prints `soli-proxy <version>` alone.
 */
export function versionLine(version: string = VERSION): string {
  return `soli-proxy ${version} (bun ${Bun.version})`;
}

/** `-V` output of this program, with its version: `soli-proxy 1.2.3 (bun 1.4.5)` → "1.2.3". */
export function parseVersionLine(line: string): string | null {
  return /^soli-proxy (\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?) \(bun \d+\.\d+\.\d+[^)]*\)$/.exec(line.trim())?.[1] ?? null;
}
