/**
 * The version soli-proxy reports (`-V`, `update`, and the admin status): package.json's, unless
 * the build defined SOLI_PROXY_BUILD_VERSION (scripts/build.ts --version), which release and test
 * builds use to stamp a binary without editing package.json.
 */
import pkg from "../../package.json" with { type: "json" };

declare const SOLI_PROXY_BUILD_VERSION: string | undefined;

export const VERSION: string = typeof SOLI_PROXY_BUILD_VERSION === "string" ? SOLI_PROXY_BUILD_VERSION : pkg.version;
