/**
 * `soli-proxy update [--check] [--reinstall] [--allow-unverified] [--no-restart] [--rollback]`
 * (SPEC §16.4): replace this executable with the latest release of our own channel, verified by
 * its `.sha256` and by what it says it is (`-V`), then upgrade a proxy running on this
 * configuration in place (SPEC §15.5). Failures throw UpdateError (exit 1) and leave the
 * executable as it was.
 */
import { existsSync, linkSync, readFileSync, realpathSync, renameSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { ControlClient, ControlError } from "../control/client.ts";
import { isCompiled } from "../lib/executable.ts";
import { locateRunDir } from "../lib/run-location.ts";
import { VERSION } from "../lib/version.ts";
import { validateSettingsText } from "../config/load.ts";
import { formatIssue } from "../config/issues.ts";
import { socketAnswers } from "../runtime/run-dir.ts";
import { download } from "../update/download.ts";
import { ensureWritable, extractExecutable, replaceExecutable, runVersion } from "../update/install.ts";
import { channelUrl, detectPlatform, fetchLatestRelease, isSameVersion, parseChecksum, pickAsset, UpdateError } from "../update/release.ts";

export interface UpdateOptions {
  reinstall: boolean;
  allowUnverified: boolean;
  /** Report whether an update exists; install nothing. */
  check?: boolean;
  /** Put `<executable>.old` back. */
  rollback?: boolean;
  /** Do not upgrade a running proxy afterwards. */
  noRestart?: boolean;
  /** proxy.conf: config.toml beside it may name the channel; its run dir may hold a running proxy. */
  conf?: string;
  runDir?: string | null;
  out?: (line: string) => void;
  err?: (line: string) => void;
  env?: Record<string, string | undefined>;
}

export async function update(opts: UpdateOptions): Promise<number> {
  const out = opts.out ?? ((line: string) => console.log(line));
  const err = opts.err ?? ((line: string) => console.error(line));
  const env = opts.env ?? process.env;
  const userAgent = `soli-proxy/${VERSION}`;
  const conf = resolve(opts.conf ?? "./proxy.conf");

  out(`Current version: ${VERSION}`);
  const platform = detectPlatform();
  out(`Detected platform: ${platform}`);
  if (!isCompiled()) {
    err("Error: update only works for the compiled soli-proxy executable");
    err("This is running from source: update the checkout instead (git pull && npm install), or build one with `npm run build`.");
    return 1;
  }
  const exe = realpathSync(process.execPath); // a symlink's target is what gets replaced
  if (opts.rollback) return rollback(exe, conf, opts, out);

  const base = channelUrl(env.SOLI_PROXY_UPDATE_URL, env.SOLI_PROXY_UPDATE_URL ? null : configuredChannel(conf));
  const release = await fetchLatestRelease(base, userAgent);
  if (isSameVersion(release.tag, VERSION) && !opts.reinstall) {
    out(`Already on latest version: ${release.tag}`);
    return 0;
  }
  if (opts.check) {
    out(`Update available: ${VERSION} -> ${release.tag}`);
    return 0;
  }
  out(`Latest version: ${release.tag}`);
  const picked = pickAsset(release, platform);
  if (!picked) throw new UpdateError(`release ${release.tag} has no asset for ${platform}`);
  const { asset, checksum } = picked;
  ensureWritable(exe); // before downloading anything

  let expected: string | null = null;
  if (checksum) {
    const text = new TextDecoder().decode(await download(checksum.name, checksum.url, { userAgent, size: checksum.size }));
    expected = parseChecksum(text);
    if (!expected) throw new UpdateError(`${checksum.name} does not start with a SHA-256 (64 hex characters). Refusing to install.`);
  } else if (!opts.allowUnverified) {
    throw new UpdateError(
      `release ${release.tag} has no ${asset.name}.sha256 to verify ${asset.name}. Refusing to install (--allow-unverified installs it anyway).`,
    );
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

  await replaceExecutable(exe, await extractExecutable(asset.name, bytes), release.tag.replace(/^v/, ""));
  out(`soli-proxy ${release.tag} installed.`);
  return restartRunning(release.tag, conf, opts, out);
}

/** `update --rollback`: `<exe>.old` (which must still be this program) and `<exe>` trade places. */
async function rollback(exe: string, conf: string, opts: UpdateOptions, out: (line: string) => void): Promise<number> {
  const old = `${exe}.old`;
  if (!existsSync(old)) throw new UpdateError(`there is no previous executable to roll back to (${old} does not exist)`);
  ensureWritable(exe);
  const probe = await runVersion(old, null);
  if (!probe.ok) throw new UpdateError(`${old} ${probe.reason}; nothing was changed`);
  const previous = probe.line.split(" ")[1]!;
  // exe stays whole at every moment: a second name for it, the rename over it, then that name becomes .old
  const keep = join(dirname(exe), `.${Date.now()}.rollback`);
  try {
    linkSync(exe, keep);
    renameSync(old, exe);
    renameSync(keep, old);
  } catch (e) {
    rmSync(keep, { force: true });
    throw new UpdateError(`cannot roll back ${exe}: ${(e as Error).message}`);
  }
  out(`Rolled back to soli-proxy ${previous} (${VERSION} kept as ${old}).`);
  return restartRunning(`v${previous}`, conf, opts, out, "rolled back");
}

/** SPEC §16.4: a proxy running on this configuration is upgraded in place, unless --no-restart. */
async function restartRunning(tag: string, conf: string, opts: UpdateOptions, out: (line: string) => void, verb = "upgraded"): Promise<number> {
  const socket = join(locateRunDir(conf, opts.runDir), "control.sock");
  if (opts.noRestart || !(await socketAnswers(socket))) {
    out("Restart it to use the new version.");
    return 0;
  }
  try {
    const next = await new ControlClient(socket).post<{ pid: number; version: string }>("upgrade", undefined, { timeoutMs: 120_000 });
    out(`running proxy ${verb} to ${tag} (PID ${next.pid})`);
    return 0;
  } catch (e) {
    if (e instanceof ControlError) throw new UpdateError(`${tag} is installed, but the running proxy was not upgraded: ${e.message}`);
    throw e;
  }
}

/** `[update] url` of the config.toml beside proxy.conf; an invalid config.toml is an error here too. */
function configuredChannel(conf: string): string | null {
  const toml = join(dirname(conf), "config.toml");
  if (!existsSync(toml)) return null;
  const { settings, issues } = validateSettingsText(readFileSync(toml, "utf8"), toml);
  const errors = issues.filter((i) => i.severity === "error");
  if (!settings || errors.length > 0) throw new UpdateError(`cannot read the release channel from ${toml}: ${errors.map(formatIssue).join("; ")}`);
  return settings.update.url ?? null;
}
