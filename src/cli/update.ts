/**
 * `soli-proxy update [--reinstall] [--allow-unverified]` (SPEC §16.4): replace this executable
 * with the latest release for this platform, verified by its `.sha256`. A running proxy is not
 * restarted. Failures throw UpdateError (exit 1) and leave the executable as it was.
 */
import { realpathSync } from "node:fs";
import { isCompiled } from "../lib/executable.ts";
import { download } from "../update/download.ts";
import { ensureWritable, extractExecutable, replaceExecutable } from "../update/install.ts";
import { DEFAULT_UPDATE_URL, detectPlatform, fetchLatestRelease, isSameVersion, parseChecksum, pickAsset, UpdateError } from "../update/release.ts";
import { VERSION } from "../lib/version.ts";

export interface UpdateOptions {
  reinstall: boolean;
  allowUnverified: boolean;
  out?: (line: string) => void;
  err?: (line: string) => void;
  env?: Record<string, string | undefined>;
}

export async function update(opts: UpdateOptions): Promise<number> {
  const out = opts.out ?? ((line: string) => console.log(line));
  const err = opts.err ?? ((line: string) => console.error(line));
  const env = opts.env ?? process.env;
  const userAgent = `soli-proxy/${VERSION}`;

  out(`Current version: ${VERSION}`);
  const platform = detectPlatform();
  out(`Detected platform: ${platform}`);
  if (!isCompiled()) {
    err("Error: update only works for the compiled soli-proxy executable");
    err("This is running from source: update the checkout instead (git pull && npm install), or build one with `npm run build`.");
    return 1;
  }
  const release = await fetchLatestRelease(env.SOLI_PROXY_UPDATE_URL || DEFAULT_UPDATE_URL, userAgent);
  if (isSameVersion(release.tag, VERSION) && !opts.reinstall) {
    out(`Already on latest version: ${release.tag}`);
    return 0;
  }
  out(`Latest version: ${release.tag}`);
  const picked = pickAsset(release, platform);
  if (!picked) throw new UpdateError(`release ${release.tag} has no asset for ${platform}`);
  const { asset, checksum } = picked;
  const exe = realpathSync(process.execPath); // a symlink's target is what gets replaced
  ensureWritable(exe); // before downloading anything

  let expected: string | null = null;
  if (checksum) {
    const text = new TextDecoder().decode(await download(checksum.name, checksum.url, { userAgent, size: checksum.size }));
    expected = parseChecksum(text);
    if (!expected) throw new UpdateError(`${checksum.name} does not start with a SHA-256 (64 hex characters). Refusing to install.`);
  } else if (!opts.allowUnverified) {
    throw new UpdateError(`release ${release.tag} has no ${asset.name}.sha256 to verify ${asset.name}. Refusing to install (--allow-unverified installs it anyway).`);
  } else {
    err(`Warning: release ${release.tag} has no ${asset.name}.sha256; installing ${asset.name} unverified (--allow-unverified).`);
  }

  out(`Downloading ${asset.name}...`);
  const bytes = await download(asset.name, asset.url, { userAgent, size: asset.size, progress: process.stderr.isTTY ? process.stderr : null });
  const actual = new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
  if (expected !== null) {
    if (actual !== expected) throw new UpdateError(`SHA-256 mismatch for ${asset.name}: expected ${expected}, got ${actual}. Refusing to install.`);
    out(`SHA-256 OK (${actual}).`);
  }

  await replaceExecutable(exe, await extractExecutable(asset.name, bytes));
  out(`soli-proxy ${release.tag} installed. Restart it to use the new version.`);
  return 0;
}
