/**
 * The compiled executable for the tests that need the real single binary (binary, update): built
 * once per test run with scripts/build.ts, or reused from dist/ when it is newer than every
 * source file.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./spawn.ts";

let build: Promise<string> | null = null;

/** dist/soli-proxy, built now unless it is newer than src/, scripts/build.ts and package files. */
export function compiledBinary(): Promise<string> {
  const outfile = join(ROOT, "dist", "soli-proxy");
  build ??= isFresh(outfile) ? Promise.resolve(outfile) : runBuild(outfile);
  return build;
}

async function runBuild(outfile: string): Promise<string> {
  const proc = Bun.spawn([process.execPath, join(ROOT, "scripts", "build.ts"), "--outfile", outfile], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
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
