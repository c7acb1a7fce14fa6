/**
 * `soli-proxy update` (SPEC §16.4) end to end: the compiled executable, copied into a temp
 * directory, updates itself from a local fake GitHub-releases API serving artifacts made by
 * scripts/release.ts for a 9.9.9 build.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../package.json";
import { detectPlatform } from "../../src/update/release.ts";
import { compiledBinary } from "../support/binary.ts";
import { tempProject, type TempProject } from "../support/project.ts";
import { ROOT, runCli } from "../support/spawn.ts";

/** Real processes and 100 MB executables on a shared machine: well above the 5 s default. */
const SLOW = 30_000;

const platform = detectPlatform();
const TARBALL = `soli-proxy-${platform}.tar.gz`;
const BARE = `soli-proxy-${platform}`;
let oldBinary: string;
let artifacts: string;
const file = (name: string) => readFileSync(join(artifacts, name));
const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher("sha256").update(bytes).digest("hex");

beforeAll(async () => {
  artifacts = mkdtempSync(join(tmpdir(), "soli-release-"));
  const release = Bun.spawn([process.execPath, join(ROOT, "scripts", "release.ts"), "--targets", `${process.platform}-${process.arch}`, "--version", "9.9.9", "--gzip-level", "1", "--out", artifacts], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [built, stderr, code] = await Promise.all([compiledBinary(), new Response(release.stderr).text(), release.exited]);
  if (code !== 0) throw new Error(`scripts/release.ts failed: ${stderr}`);
  oldBinary = built;
}, 180_000);

afterAll(() => rmSync(artifacts, { recursive: true, force: true }));

/** A GitHub-releases-compatible API on port 0: `<base>/latest` lists `files` as assets of `tag`. */
function releaseServer(tag: string, files: Record<string, Uint8Array | string>) {
  const hits: string[] = [];
  let origin = "";
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req): Response {
      const path = new URL(req.url).pathname;
      hits.push(path);
      if (path === "/repos/x/releases/latest") {
        const assets = Object.entries(files).map(([name, body]) => ({ name, size: Buffer.byteLength(body), browser_download_url: `${origin}/download/${name}` }));
        return Response.json({ tag_name: tag, assets });
      }
      const body = files[path.slice("/download/".length)];
      return body === undefined ? new Response("not found", { status: 404 }) : new Response(body);
    },
  });
  origin = `http://127.0.0.1:${server.port}`;
  return { base: `${origin}/repos/x/releases`, hits, [Symbol.dispose]: () => server.stop(true) };
}

/** The compiled 0.1.0 executable alone in a fresh directory. */
function installed(): TempProject & { exe: string } {
  const project = tempProject();
  const exe = join(project.dir, "soli-proxy");
  copyFileSync(oldBinary, exe);
  return Object.assign(project, { exe });
}

async function run(argv: string[], env: Record<string, string>, opts: { uid?: number } = {}) {
  const proc = Bun.spawn(argv, { env: { PATH: "/usr/bin:/bin", ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe", ...opts });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout: stdout.split("\n").filter(Boolean), stderr: stderr.split("\n").filter(Boolean) };
}

const update = (exe: string, base: string, ...flags: string[]) => run([exe, "update", ...flags], { SOLI_PROXY_UPDATE_URL: base });
const version = async (exe: string) => (await run([exe, "-V"], {})).stdout[0];
const header = [`Current version: ${pkg.version}`, `Detected platform: ${platform}`];

describe("soli-proxy update (SPEC §16.4)", () => {
  test("installs the release tarball after checking its SHA-256 and keeps the old executable as .old", async () => {
    using server = releaseServer("v9.9.9", {
      [TARBALL]: file(TARBALL),
      [`${TARBALL}.sha256`]: file(`${TARBALL}.sha256`),
      [BARE]: file(BARE),
      [`${BARE}.sha256`]: file(`${BARE}.sha256`),
    });
    using dir = installed();
    const r = await update(dir.exe, server.base);
    expect([r.code, r.stdout, r.stderr]).toEqual([
      0,
      [...header, "Latest version: v9.9.9", `Downloading ${TARBALL}...`, `SHA-256 OK (${sha256(file(TARBALL))}).`, "soli-proxy v9.9.9 installed. Restart it to use the new version."],
      [],
    ]);
    expect([await version(dir.exe), await version(`${dir.exe}.old`), readdirSync(dir.dir).sort(), server.hits]).toEqual([
      "soli-proxy 9.9.9",
      `soli-proxy ${pkg.version}`,
      ["soli-proxy", "soli-proxy.old"],
      ["/repos/x/releases/latest", `/download/${TARBALL}.sha256`, `/download/${TARBALL}`],
    ]);
  }, SLOW);

  test("says it is already on the latest version and downloads nothing, unless --reinstall", async () => {
    using server = releaseServer(`v${pkg.version}`, { [BARE]: file(BARE), [`${BARE}.sha256`]: file(`${BARE}.sha256`) });
    using dir = installed();
    const same = await update(dir.exe, server.base);
    const hitsBefore = [...server.hits];
    const again = await update(dir.exe, server.base, "--reinstall");
    expect([same.code, same.stdout, hitsBefore, again.code, again.stdout.at(-1)]).toEqual([
      0,
      [...header, `Already on latest version: v${pkg.version}`],
      ["/repos/x/releases/latest"],
      0,
      `soli-proxy v${pkg.version} installed. Restart it to use the new version.`,
    ]);
  }, SLOW);

  test("refuses a download whose SHA-256 does not match and leaves the executable intact", async () => {
    const wrong = "ab".repeat(32);
    using server = releaseServer("v9.9.9", { [TARBALL]: file(TARBALL), [`${TARBALL}.sha256`]: `${wrong.toUpperCase()}  ${TARBALL}\n` });
    using dir = installed();
    const r = await update(dir.exe, server.base);
    expect([r.code, r.stderr, await version(dir.exe), sha256(readFileSync(dir.exe)) === sha256(readFileSync(oldBinary)), readdirSync(dir.dir)]).toEqual([
      1,
      [`Error: SHA-256 mismatch for ${TARBALL}: expected ${wrong}, got ${sha256(file(TARBALL))}. Refusing to install.`],
      `soli-proxy ${pkg.version}`,
      true,
      ["soli-proxy"],
    ]);
  }, SLOW);

  test("refuses an asset without a .sha256 unless --allow-unverified, then installs the bare executable", async () => {
    using server = releaseServer("v9.9.9", { [BARE]: file(BARE) });
    using dir = installed();
    const refused = await update(dir.exe, server.base);
    const versionAfterRefusal = await version(dir.exe);
    const allowed = await update(dir.exe, server.base, "--allow-unverified");
    expect([refused.code, refused.stderr, versionAfterRefusal, allowed.code, allowed.stderr, await version(dir.exe)]).toEqual([
      1,
      [`Error: release v9.9.9 has no ${BARE}.sha256 to verify ${BARE}. Refusing to install (--allow-unverified installs it anyway).`],
      `soli-proxy ${pkg.version}`,
      0,
      [`Warning: release v9.9.9 has no ${BARE}.sha256; installing ${BARE} unverified (--allow-unverified).`],
      "soli-proxy 9.9.9",
    ]);
  }, SLOW);

  test("reports a release without an asset for this platform", async () => {
    using server = releaseServer("v9.9.9", { "soli-proxy-plan9-mips.tar.gz": "x" });
    using dir = installed();
    const r = await update(dir.exe, server.base);
    expect([r.code, r.stderr]).toEqual([1, [`Error: release v9.9.9 has no asset for ${platform}`]]);
  }, SLOW);

  test("reports a release server that does not answer", async () => {
    let base: string;
    {
      using server = releaseServer("v9.9.9", {});
      base = server.base;
    }
    using dir = installed();
    const r = await update(dir.exe, base);
    expect([r.code, r.stderr.length, r.stderr[0]?.startsWith(`Error: cannot reach the release server ${base}/latest: `)]).toEqual([1, 1, true]);
  }, SLOW);

  test("deletes a downloaded executable that does not run and keeps the old one", async () => {
    const broken = "#!/bin/sh\necho 'cannot start' >&2\nexit 3\n";
    using server = releaseServer("v9.9.9", { [BARE]: broken, [`${BARE}.sha256`]: `${sha256(Buffer.from(broken))}  ${BARE}\n` });
    using dir = installed();
    const r = await update(dir.exe, server.base);
    expect([r.code, r.stderr, readdirSync(dir.dir), await version(dir.exe)]).toEqual([
      1,
      [`Error: the downloaded executable does not run ('${dir.exe}.new -V' exited with code 3: cannot start); ${dir.exe} is unchanged`],
      ["soli-proxy"],
      `soli-proxy ${pkg.version}`,
    ]);
  }, SLOW);

  test("suggests sudo when it may not write beside the executable, before downloading", async () => {
    using server = releaseServer("v9.9.9", { [BARE]: file(BARE), [`${BARE}.sha256`]: file(`${BARE}.sha256`) });
    using dir = installed();
    // root may write anywhere, so as root the update runs as nobody; otherwise the directory is read-only
    const asRoot = process.getuid?.() === 0;
    chmodSync(dir.dir, asRoot ? 0o755 : 0o555);
    try {
      const r = await run([dir.exe, "update"], { SOLI_PROXY_UPDATE_URL: server.base }, asRoot ? { uid: 65534 } : {});
      expect([r.code, r.stderr, server.hits]).toEqual([
        1,
        [`Error: permission denied writing ${dir.dir}; run it with the rights of the executable's owner: sudo soli-proxy update`],
        ["/repos/x/releases/latest"],
      ]);
    } finally {
      chmodSync(dir.dir, 0o700);
    }
  }, SLOW);

  test("draws a progress bar (bytes, total, rate) when stderr is a terminal", async () => {
    using server = releaseServer("v9.9.9", { [BARE]: file(BARE), [`${BARE}.sha256`]: file(`${BARE}.sha256`) });
    using dir = installed();
    // script(1) runs the update on a pseudo-terminal and copies what it drew to stdout
    const r = await run(["script", "-qec", `${dir.exe} update`, "/dev/null"], { SOLI_PROXY_UPDATE_URL: server.base });
    const total = (file(BARE).length / 1e6).toFixed(1);
    expect([r.code, new RegExp(`\\r\\[#{24}\\] ${total} MB / ${total} MB  [\\d.]+ MB/s`).test(r.stdout.join("\n")), await version(dir.exe)]).toEqual([0, true, "soli-proxy 9.9.9"]);
  }, SLOW);

  test("from source it explains that only the compiled executable updates itself", async () => {
    const r = await runCli(["update"], { env: { SOLI_PROXY_UPDATE_URL: "http://127.0.0.1:9/unused" } });
    expect([r.code, r.stdout.trim().split("\n"), r.stderr.split("\n")[0]]).toEqual([1, header, "Error: update only works for the compiled soli-proxy executable"]);
  }, SLOW);

  test("the release script's artifacts: executable and tarball for this platform, each with a sha256sum-format checksum", async () => {
    const check = Bun.spawnSync(["sha256sum", "-c", `${BARE}.sha256`, `${TARBALL}.sha256`], { cwd: artifacts });
    const listing = Bun.spawnSync(["tar", "tzvf", TARBALL], { cwd: artifacts }).stdout.toString().trim().split(/\s+/);
    expect([readdirSync(artifacts).sort(), check.stdout.toString(), listing[0], listing[1], listing.at(-1)]).toEqual([
      [BARE, `${BARE}.sha256`, TARBALL, `${TARBALL}.sha256`],
      `${BARE}: OK\n${TARBALL}: OK\n`,
      "-rwxr-xr-x",
      "root/root",
      "soli-proxy",
    ]);
  }, SLOW);
});
