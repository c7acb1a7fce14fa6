/**
 * The install side of self-update (SPEC §16.4 steps 6–7): take the executable out of the asset,
 * write it beside the running one, prove it runs, and swap it in with the old one kept as
 * `<executable>.old`. At no moment is there no executable at the path.
 */
import { accessSync, chmodSync, closeSync, constants, copyFileSync, fsyncSync, linkSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { parseVersionLine } from "../lib/version.ts";
import { UpdateError } from "./release.ts";

/** The soli-proxy executable inside an asset: the tarball's root `soli-proxy`, or the asset itself. */
export async function extractExecutable(assetName: string, bytes: Uint8Array): Promise<Uint8Array> {
  if (!assetName.endsWith(".tar.gz")) return bytes;
  let files: Map<string, File>;
  try {
    files = await new Bun.Archive(bytes).files();
  } catch (err) {
    throw new UpdateError(`${assetName} is not a readable .tar.gz: ${(err as Error).message}`);
  }
  // A release tarball holds the executable and nothing else (scripts/release.ts); anything more,
  // `../x` above all, says it was not made by us. Nothing is ever extracted to disk from it.
  const extra = [...files.keys()].filter((name) => name !== "soli-proxy" && name !== "./soli-proxy");
  if (extra.length > 0) throw new UpdateError(`${assetName} holds more than soli-proxy (${extra.slice(0, 5).join(", ")}). Refusing to install.`);
  const entry = files.get("soli-proxy") ?? files.get("./soli-proxy");
  if (!entry) throw new UpdateError(`${assetName} has no soli-proxy at its root (it holds: ${[...files.keys()].slice(0, 5).join(", ") || "nothing"})`);
  return entry.bytes();
}

/** Fails early, before any download, when the executable's directory is not writable. */
export function ensureWritable(exe: string): void {
  try {
    accessSync(dirname(exe), constants.W_OK);
  } catch (err) {
    throw writeError(dirname(exe), err);
  }
}

/**
 * Installs `bytes` as `exe`: `<exe>.new` (mode 755, fsynced) must identify itself with `-V` as
 * this program at `version` (SPEC §16.4 step 7), else it is deleted and `exe` left alone; then
 * `exe` is kept as `<exe>.old` and `<exe>.new` renamed over it. If the installed file then fails
 * `-V`, the old one is put back. Returns the new `-V` line.
 */
export async function replaceExecutable(exe: string, bytes: Uint8Array, version: string): Promise<string> {
  const next = `${exe}.new`;
  const old = `${exe}.old`;
  writeDurably(next, bytes);
  const probe = await runVersion(next, version);
  if (!probe.ok) {
    rmSync(next, { force: true });
    throw new UpdateError(`the downloaded executable ${probe.reason}; it was deleted and ${exe} is unchanged`);
  }
  try {
    rmSync(old, { force: true });
    keepCopy(exe, old);
    renameSync(next, exe); // atomic: the path always names a whole executable
  } catch (err) {
    rmSync(next, { force: true });
    throw writeError(exe, err);
  }
  syncDirectory(dirname(exe));
  const installed = await runVersion(exe, version);
  if (!installed.ok) {
    renameSync(old, exe);
    syncDirectory(dirname(exe));
    throw new UpdateError(`the installed executable does not run (${installed.reason}); the previous one was put back`);
  }
  return installed.line;
}

function writeDurably(path: string, bytes: Uint8Array): void {
  let fd: number;
  try {
    fd = openSync(path, "w", 0o755);
  } catch (err) {
    throw writeError(path, err);
  }
  try {
    for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(path, { force: true });
    throw writeError(path, err);
  }
  closeSync(fd);
  chmodSync(path, 0o755); // openSync's mode is filtered by the umask
}

/** `old` becomes the current executable: a hard link when the filesystem has them, else a copy. */
function keepCopy(exe: string, old: string): void {
  try {
    linkSync(exe, old);
  } catch {
    copyFileSync(exe, old);
  }
}

function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // not every platform can fsync a directory; the rename is still atomic
  }
}

/**
 * Runs `<path> -V` (with nothing else: no arguments, an empty environment but PATH) and checks its
 * first line is this program's, `soli-proxy <version> (bun <bun version>)` (SPEC §2, §16.4).
 */
export async function runVersion(path: string, version: string | null): Promise<{ ok: true; line: string } | { ok: false; reason: string }> {
  let proc;
  try {
    proc = Bun.spawn([path, "-V"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 30_000 });
  } catch (err) {
    return { ok: false, reason: `does not run ('${path} -V': ${(err as Error).message})` };
  }
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const line = stdout.trim().split("\n")[0] ?? "";
  if (code !== 0 || proc.signalCode) {
    const said = (stderr.trim() || line).split("\n")[0]?.slice(0, 200);
    return {
      ok: false,
      reason: `does not run ('${path} -V' ${proc.signalCode ? `was killed by ${proc.signalCode}` : `exited with code ${code}`}${said ? `: ${said}` : ""})`,
    };
  }
  const found = parseVersionLine(line);
  if (found === null)
    return { ok: false, reason: `is not this soli-proxy: '${path} -V' printed '${line.slice(0, 120)}', not 'soli-proxy <version> (bun <version>)'` };
  if (version !== null && found !== version) return { ok: false, reason: `is soli-proxy ${found}, not the release's ${version}` };
  return { ok: true, line };
}

function writeError(path: string, err: unknown): UpdateError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "EACCES" || code === "EPERM")
    return new UpdateError(`permission denied writing ${path}; run it with the rights of the executable's owner: sudo soli-proxy update`);
  return new UpdateError(`cannot write ${path}: ${(err as Error).message}`);
}
