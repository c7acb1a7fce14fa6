/**
 * The compiled executable for the tests that need the real single binary (binary, update): built
 * once per test run with scripts/build.ts, or reused from dist/ when it is newer than every
 * source file. Builds of another version go to dist/test/.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./spawn.ts";

const builds = new Map<string, Promise<string>>();

/** dist/soli-proxy, built now unless it is newer than src/, scripts/build.ts and package.json. */
export function compiledBinary(): Promise<string> {
  return buildOnce(join(ROOT, "dist", "soli-proxy"), []);
}

/** A compiled soli-proxy whose `-V` says `version` (dist/test/soli-proxy-<version>). */
export function compiledBinaryOfVersion(version: string): Promise<string> {
  return buildOnce(join(ROOT, "dist", "test", `soli-proxy-${version}`), ["--version", version]);
}

function buildOnce(outfile: string, args: string[]): Promise<string> {
  let build = builds.get(outfile);
  if (!build) {
    build = isFresh(outfile) ? Promise.resolve(outfile) : runBuild(outfile, args);
    builds.set(outfile, build);
  }
  return build;
}

async function runBuild(outfile: string, args: string[]): Promise<string> {
  const proc = Bun.spawn([process.execPath, join(ROOT, "scripts", "build.ts"), "--outfile", outfile, ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`build of ${outfile} failed (exit ${code}):\n${stdout}${stderr}`);
  return outfile;
}

function isFresh(outfile: string): boolean {
  let built: number;
  try {
    built = statSync(outfile).mtimeMs;
  } catch {
    return false;
  }
  const inputs = [join(ROOT, "package.json"), join(ROOT, "package-lock.json"), join(ROOT, "scripts", "build.ts"), ...filesUnder(join(ROOT, "src"))];
  return inputs.every((file) => statSync(file).mtimeMs < built);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}
