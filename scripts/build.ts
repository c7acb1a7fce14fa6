/**
 * Compiles soli-proxy into one executable that needs no Bun, node_modules or source tree
 * (`bun build --compile`). `npm run build` runs it for this machine; scripts/release.ts and the
 * tests call buildExecutable() for other targets and stamped versions.
 *
 *   bun scripts/build.ts [--outfile dist/soli-proxy] [--target linux-arm64]
 *                        [--executable-path <bun for that target>] [--version 1.2.3] [--update-url URL]
 */
import { rmSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";

export const ROOT = resolve(import.meta.dir, "..");
export const ENTRY = resolve(ROOT, "src/main.ts");

export interface BuildOptions {
  outfile: string;
  /** `<os>-<arch>` (linux-x64, darwin-arm64, …); default: this machine. */
  target?: string;
  /** A Bun executable for `target`, so cross-compiling needs no download (see scripts/release.ts). */
  executablePath?: string;
  /** Stamp another version than package.json's (src/lib/version.ts). */
  version?: string;
  /** The release channel this build updates from (src/update/release.ts, SPEC §16.4); none by default. */
  updateUrl?: string;
}

export async function buildExecutable(opts: BuildOptions): Promise<string> {
  const define: Record<string, string> = {};
  if (opts.version) define.SOLI_PROXY_BUILD_VERSION = JSON.stringify(opts.version);
  if (opts.updateUrl) define.SOLI_PROXY_BUILD_UPDATE_URL = JSON.stringify(opts.updateUrl);
  const result = await Bun.build({
    entrypoints: [ENTRY],
    plugins: [noReactDevtools],
    minify: true,
    // Each `await import()` (the TUI, ACME, the updater, the lifecycle commands) becomes a chunk of
    // its own inside the executable, read and parsed only when that path runs; one file would have
    // JSC parse all of it at start-up: a started proxy idles about 2 MiB smaller (bench/memory.ts).
    splitting: true,
    sourcemap: "linked", // embedded in the executable: stack traces name src/ files and lines
    define,
    compile: {
      outfile: resolve(opts.outfile),
      ...(opts.target ? { target: `bun-${opts.target}` as Bun.Build.CompileTarget } : {}),
      ...(opts.executablePath ? { executablePath: opts.executablePath } : {}),
      // SPEC §1: only ADMIN_USER/ADMIN_PASSWORD come from the .env beside proxy.conf; a .env or
      // bunfig.toml in whatever directory the executable runs from must change nothing.
      autoloadDotenv: false,
      autoloadBunfig: false,
    },
  });
  if (!result.success) throw new AggregateError(result.logs, `build failed:\n${result.logs.map(String).join("\n")}`);
  const exe = result.outputs.find((o) => o.kind === "entry-point");
  if (!exe) throw new Error("build produced no executable");
  // The source maps are embedded in the executable; the copies written beside it (one per chunk) are not needed.
  for (const map of result.outputs.filter((o) => o.kind === "sourcemap")) rmSync(map.path, { force: true });
  return exe.path;
}

/**
 * Ink (the TUI's renderer) imports react-devtools-core only when DEV=true and the package is
 * installed; the bundler still has to resolve it. An empty stand-in keeps that optional developer
 * tool out of the executable, where DEV=true then finds no devtools (as without the package).
 */
const noReactDevtools: Bun.BunPlugin = {
  name: "no-react-devtools",
  setup(build) {
    build.onResolve({ filter: /^react-devtools-core$/ }, () => ({ path: "react-devtools-core", namespace: "soli-stub" }));
    build.onLoad({ filter: /.*/, namespace: "soli-stub" }, () => ({ contents: "export default { initialize() {}, connectToDevTools() {} };", loader: "js" }));
  },
};

if (import.meta.main) {
  const { values } = parseArgs({
    args: Bun.argv.slice(2),
    options: {
      outfile: { type: "string", default: resolve(ROOT, "dist/soli-proxy") },
      target: { type: "string" },
      "executable-path": { type: "string" },
      version: { type: "string" },
      "update-url": { type: "string" },
    },
  });
  const path = await buildExecutable({
    outfile: values.outfile,
    target: values.target,
    executablePath: values["executable-path"],
    version: values.version,
    updateUrl: values["update-url"],
  });
  console.log(`built ${path}`);
}
