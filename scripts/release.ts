/**
 * A release channel for `soli-proxy update` (SPEC §16.4): for each target
 * `soli-proxy-<os>-<arch>` (the bare executable) and `soli-proxy-<os>-<arch>.tar.gz` (it, as
 * `soli-proxy` mode 755 at the root), each with a `.sha256` in sha256sum format, plus `latest`:
 * the GitHub releases API answer (`tag_name` v<version>, `assets[]` with `name`, `size` and a
 * `browser_download_url` relative to it). Any static file server serving the directory is then a
 * channel: point `[update] url` (or `--update-url` at build time) at the directory's URL. The
 * artifacts can as well be uploaded to a GitHub release tagged `v<version>`.
 *
 *   bun scripts/release.ts [--targets linux-x64,linux-arm64,darwin-x64,darwin-arm64]
 *                          [--out dist/release] [--version X] [--gzip-level 1-9] [--update-url URL]
 *
 * Cross-compiling needs Bun's runtime for the other platform. Instead of letting `bun build`
 * download it from GitHub, it comes from the npm registry: the `@oven/bun-<os>-<arch>` package of
 * the same Bun version (fetched with `npm pack`, cached in dist/.bun-runtimes/), handed to the
 * compiler as `executablePath`. This machine's own target needs nothing.
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import pkg from "../package.json" with { type: "json" };
import { buildExecutable, ROOT } from "./build.ts";

export const TARGETS = ["linux-x64", "linux-arm64", "darwin-x64", "darwin-arm64"] as const;

export interface ReleaseOptions {
  targets: readonly string[];
  out: string;
  version?: string;
  /** 1 (fast, for tests) … 9 (smallest); default 9. */
  gzipLevel?: number;
  /** Channel fixed in the executables (scripts/build.ts --update-url). */
  updateUrl?: string;
  log?: (line: string) => void;
}

/** Builds every target into `out`; returns the artifact paths (checksums included). */
export async function release(opts: ReleaseOptions): Promise<string[]> {
  const log = opts.log ?? ((line: string) => console.log(line));
  mkdirSync(opts.out, { recursive: true });
  const written: string[] = [];
  for (const target of opts.targets) {
    if (!(TARGETS as readonly string[]).includes(target)) throw new Error(`unknown target '${target}' (known: ${TARGETS.join(", ")})`);
    const exe = join(opts.out, `soli-proxy-${target}`);
    const executablePath = target === hostTarget() ? undefined : await bunRuntime(target, log);
    await buildExecutable({ outfile: exe, target, executablePath, version: opts.version, updateUrl: opts.updateUrl });
    const tarball = `${exe}.tar.gz`;
    await packTarball(exe, tarball, opts.gzipLevel ?? 9);
    for (const file of [exe, tarball]) written.push(file, await writeChecksum(file));
    log(`${target}: ${basename(exe)}, ${basename(tarball)} (+ .sha256)`);
  }
  written.push(await writeLatest(opts.out, `v${opts.version ?? pkg.version}`, written));
  return written;
}

/** `<out>/latest`: the GitHub "latest release" answer for the files written, with relative download URLs. */
export async function writeLatest(out: string, tag: string, files: readonly string[]): Promise<string> {
  const assets = files.map((file) => ({ name: basename(file), size: Bun.file(file).size, browser_download_url: basename(file) }));
  const path = join(out, "latest");
  await Bun.write(path, `${JSON.stringify({ tag_name: tag, name: tag, assets }, null, 2)}\n`);
  return path;
}

export function hostTarget(): string {
  return `${process.platform}-${process.arch}`;
}

/** `<file>.sha256` holding `<hex>  <name>` like sha256sum; returns its path. */
export async function writeChecksum(file: string): Promise<string> {
  const hex = new Bun.CryptoHasher("sha256").update(await Bun.file(file).bytes()).digest("hex");
  await Bun.write(`${file}.sha256`, `${hex}  ${basename(file)}\n`);
  return `${file}.sha256`;
}

/** A .tar.gz holding `exe` as `soli-proxy` (mode 755, owner 0:0) at its root. */
export async function packTarball(exe: string, out: string, gzipLevel: number): Promise<void> {
  const data = await Bun.file(exe).bytes();
  const header = tarHeader("soli-proxy", data.length, 0o755, Math.floor(Date.now() / 1000));
  const padding = new Uint8Array((512 - (data.length % 512)) % 512);
  const end = new Uint8Array(1024); // two zero blocks close a tar archive
  const tar = Buffer.concat([header, data, padding, end]);
  await Bun.write(out, Bun.gzipSync(tar, { level: gzipLevel as 1 }));
}

/** A POSIX ustar header for one regular file. */
function tarHeader(name: string, size: number, mode: number, mtime: number): Uint8Array {
  const h = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string) => h.write(value, offset, length, "latin1");
  const octal = (offset: number, length: number, value: number) => field(offset, length, value.toString(8).padStart(length - 1, "0") + "\0");
  field(0, 100, name);
  octal(100, 8, mode);
  octal(108, 8, 0); // uid
  octal(116, 8, 0); // gid
  octal(124, 12, size);
  octal(136, 12, mtime);
  field(148, 8, "        "); // checksum counts as spaces while it is computed
  field(156, 1, "0"); // regular file
  field(257, 8, "ustar\u000000");
  field(265, 32, "root");
  field(297, 32, "root");
  let sum = 0;
  for (const byte of h) sum += byte;
  field(148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

/** Bun's runtime for `target` from the npm package @oven/bun-<os>-<arch> (same version as ours). */
async function bunRuntime(target: string, log: (line: string) => void): Promise<string> {
  const [os, arch] = target.split("-") as [string, string];
  const pkg = `@oven/bun-${os}-${arch === "arm64" ? "aarch64" : arch}@${Bun.version}`;
  const dir = join(ROOT, "dist", ".bun-runtimes", `${target}-${Bun.version}`);
  const bun = join(dir, "package", "bin", "bun");
  if (existsSync(bun)) return bun;
  mkdirSync(dir, { recursive: true });
  log(`${target}: fetching ${pkg} from the npm registry`);
  const pack = Bun.spawnSync(["npm", "pack", pkg, "--json", "--pack-destination", dir], { stdout: "pipe", stderr: "pipe" });
  if (pack.exitCode !== 0) throw new Error(`cannot fetch ${pkg} (needed to cross-compile for ${target}): ${pack.stderr.toString().trim()}`);
  const [{ filename }] = JSON.parse(pack.stdout.toString()) as [{ filename: string }];
  await new Bun.Archive(await Bun.file(join(dir, filename)).bytes()).extract(dir, { glob: "package/bin/bun" });
  rmSync(join(dir, filename), { force: true });
  if (!existsSync(bun)) throw new Error(`${pkg} holds no package/bin/bun`);
  return bun;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Bun.argv.slice(2),
    options: {
      targets: { type: "string", default: TARGETS.join(",") },
      out: { type: "string", default: join(ROOT, "dist", "release") },
      version: { type: "string" },
      "gzip-level": { type: "string", default: "9" },
      "update-url": { type: "string" },
    },
  });
  const gzipLevel = Number(values["gzip-level"]);
  if (!Number.isInteger(gzipLevel) || gzipLevel < 1 || gzipLevel > 9) throw new Error(`--gzip-level takes 1 to 9, not '${values["gzip-level"]}'`);
  const files = await release({
    targets: values.targets
      .split(",")
      .map((t) => t.trim())
      .filter(Boolean),
    out: resolve(values.out),
    version: values.version,
    gzipLevel,
    updateUrl: values["update-url"],
  });
  console.log(`wrote ${files.length} files to ${resolve(values.out)}`);
}
