/**
 * `soli-proxy update` (SPEC §16.4) end to end: the compiled executable, copied into a temp
 * directory, updates itself from a release channel: the directory scripts/release.ts writes for a
 * 9.9.9 build, served by a real nginx, or a local fake GitHub-releases API for the bad cases.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../package.json";
import { ControlClient, ControlError } from "../../src/control/client.ts";
import { isAlive, readPidFile } from "../../src/runtime/pidfile.ts";
import { detectPlatform, NO_CHANNEL } from "../../src/update/release.ts";
import { backend } from "../support/backend.ts";
import { compiledBinary } from "../support/binary.ts";
import { freePortBlock } from "../support/apps.ts";
import { tempProject, testToml, type TempProject } from "../support/project.ts";
import { ROOT, runCli, spawnProxy } from "../support/spawn.ts";
import { waitFor } from "../support/wait.ts";

/** Real processes and 100 MB executables on a shared machine: well above the 5 s default. */
const SLOW = 30_000;

const platform = detectPlatform();
const TARBALL = `soli-proxy-${platform}.tar.gz`;
const BARE = `soli-proxy-${platform}`;
let oldBinary: string;
let artifacts: string;
/** A compiled executable that is not this program: it prints `soli-proxy 9.9.9` for -V, like the original Rust one. */
let impostor: string;
const file = (name: string) => readFileSync(join(artifacts, name));
const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher("sha256").update(bytes).digest("hex");

beforeAll(async () => {
  artifacts = mkdtempSync(join(tmpdir(), "soli-release-"));
  const release = Bun.spawn(
    [
      process.execPath,
      join(ROOT, "scripts", "release.ts"),
      "--targets",
      `${process.platform}-${process.arch}`,
      "--version",
      "9.9.9",
      "--gzip-level",
      "1",
      "--out",
      artifacts,
    ],
    {
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const other = join(artifacts, "impostor");
  writeFileSync(`${other}.ts`, 'console.log("soli-proxy 9.9.9");\n');
  const impostorBuild = Bun.spawn([process.execPath, "build", "--compile", `${other}.ts`, "--outfile", other], { stdout: "pipe", stderr: "pipe" });
  const [built, stderr, code, impostorCode] = await Promise.all([compiledBinary(), new Response(release.stderr).text(), release.exited, impostorBuild.exited]);
  if (code !== 0) throw new Error(`scripts/release.ts failed: ${stderr}`);
  if (impostorCode !== 0) throw new Error(`building the impostor failed: ${await new Response(impostorBuild.stderr).text()}`);
  oldBinary = built;
  impostor = other;
  rmSync(`${other}.ts`);
}, 180_000);

afterAll(() => rmSync(artifacts, { recursive: true, force: true }));

/**
 * nginx from Debian serving `root` on a free loopback port: a static release channel. One master
 * process, no workers, so it may read a 0700 temp directory as whoever runs the test.
 */
async function nginx(root: string) {
  const port = freePortBlock(1);
  const dir = mkdtempSync(join(tmpdir(), "soli-nginx-"));
  writeFileSync(
    join(dir, "nginx.conf"),
    `daemon off;\nmaster_process off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n  access_log off;\n  client_body_temp_path ${dir};\n  proxy_temp_path ${dir};\n  fastcgi_temp_path ${dir};\n  uwsgi_temp_path ${dir};\n  scgi_temp_path ${dir};\n  default_type application/octet-stream;\n  types { application/json latest; }\n  server { listen 127.0.0.1:${port}; root ${root}; }\n}\n`,
  );
  const proc = Bun.spawn(["nginx", "-c", join(dir, "nginx.conf"), "-p", dir], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  const base = `http://127.0.0.1:${port}/`;
  await waitFor(async () => (await fetch(`${base}latest`)).ok, `nginx on ${base}`, 10_000, 50);
  return {
    base,
    [Symbol.asyncDispose]: async () => {
      proc.kill("SIGQUIT");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

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
        const assets = Object.entries(files).map(([name, body]) => ({
          name,
          size: Buffer.byteLength(body),
          browser_download_url: `${origin}/download/${name}`,
        }));
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

async function run(argv: string[], env: Record<string, string>, opts: { uid?: number; cwd?: string } = {}) {
  const proc = Bun.spawn(argv, {
    env: { PATH: "/usr/bin:/bin", ...env },
    cwd: opts.cwd ?? tmpdir(),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout: stdout.split("\n").filter(Boolean), stderr: stderr.split("\n").filter(Boolean) };
}

const update = (exe: string, base: string, ...flags: string[]) => run([exe, "update", ...flags], { SOLI_PROXY_UPDATE_URL: base });
const version = async (exe: string) => (await run([exe, "-V"], {})).stdout[0];
const header = [`Current version: ${pkg.version}`, `Detected platform: ${platform}`];
const versionLine = (v: string) => `soli-proxy ${v} (bun ${Bun.version})`;

describe("soli-proxy update (SPEC §16.4)", () => {
  test(
    "installs the release tarball after checking its SHA-256 and keeps the old executable as .old",
    async () => {
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
        [
          ...header,
          "Latest version: v9.9.9",
          `Downloading ${TARBALL}...`,
          `SHA-256 OK (${sha256(file(TARBALL))}).`,
          "soli-proxy v9.9.9 installed.",
          "Restart it to use the new version.",
        ],
        [],
      ]);
      expect([await version(dir.exe), await version(`${dir.exe}.old`), readdirSync(dir.dir).sort(), server.hits]).toEqual([
        versionLine("9.9.9"),
        versionLine(pkg.version),
        ["soli-proxy", "soli-proxy.old"],
        ["/repos/x/releases/latest", `/download/${TARBALL}.sha256`, `/download/${TARBALL}`],
      ]);
    },
    SLOW,
  );

  test(
    "says it is already on the latest version and downloads nothing, unless --reinstall",
    async () => {
      const current = readFileSync(oldBinary);
      using server = releaseServer(`v${pkg.version}`, { [BARE]: current, [`${BARE}.sha256`]: `${sha256(current)}  ${BARE}\n` });
      using dir = installed();
      const same = await update(dir.exe, server.base);
      const hitsBefore = [...server.hits];
      const again = await update(dir.exe, server.base, "--reinstall");
      expect([same.code, same.stdout, hitsBefore, again.code, again.stdout.at(-1)]).toEqual([
        0,
        [...header, `Already on latest version: v${pkg.version}`],
        ["/repos/x/releases/latest"],
        0,
        "Restart it to use the new version.",
      ]);
    },
    SLOW,
  );

  test(
    "refuses a download whose SHA-256 does not match and leaves the executable intact",
    async () => {
      const wrong = "ab".repeat(32);
      using server = releaseServer("v9.9.9", { [TARBALL]: file(TARBALL), [`${TARBALL}.sha256`]: `${wrong.toUpperCase()}  ${TARBALL}\n` });
      using dir = installed();
      const r = await update(dir.exe, server.base);
      expect([r.code, r.stderr, await version(dir.exe), sha256(readFileSync(dir.exe)) === sha256(readFileSync(oldBinary)), readdirSync(dir.dir)]).toEqual([
        1,
        [`Error: SHA-256 mismatch for ${TARBALL}: expected ${wrong}, got ${sha256(file(TARBALL))}. Refusing to install.`],
        versionLine(pkg.version),
        true,
        ["soli-proxy"],
      ]);
    },
    SLOW,
  );

  test(
    "refuses an asset without a .sha256 unless --allow-unverified, then installs the bare executable",
    async () => {
      using server = releaseServer("v9.9.9", { [BARE]: file(BARE) });
      using dir = installed();
      const refused = await update(dir.exe, server.base);
      const versionAfterRefusal = await version(dir.exe);
      const allowed = await update(dir.exe, server.base, "--allow-unverified");
      expect([refused.code, refused.stderr, versionAfterRefusal, allowed.code, allowed.stderr, await version(dir.exe)]).toEqual([
        1,
        [`Error: release v9.9.9 has no ${BARE}.sha256 to verify ${BARE}. Refusing to install (--allow-unverified installs it anyway).`],
        versionLine(pkg.version),
        0,
        [`Warning: release v9.9.9 has no ${BARE}.sha256; installing ${BARE} unverified (--allow-unverified).`],
        versionLine("9.9.9"),
      ]);
    },
    SLOW,
  );

  test(
    "reports a release without an asset for this platform",
    async () => {
      using server = releaseServer("v9.9.9", { "soli-proxy-plan9-mips.tar.gz": "x" });
      using dir = installed();
      const r = await update(dir.exe, server.base);
      expect([r.code, r.stderr]).toEqual([1, [`Error: release v9.9.9 has no asset for ${platform}`]]);
    },
    SLOW,
  );

  test(
    "reports a release server that does not answer",
    async () => {
      let base: string;
      {
        using server = releaseServer("v9.9.9", {});
        base = server.base;
      }
      using dir = installed();
      const r = await update(dir.exe, base);
      expect([r.code, r.stderr.length, r.stderr[0]?.startsWith(`Error: cannot reach the release server ${base}/latest: `)]).toEqual([1, 1, true]);
    },
    SLOW,
  );

  test(
    "deletes a downloaded executable that does not run and keeps the old one",
    async () => {
      const broken = "#!/bin/sh\necho 'cannot start' >&2\nexit 3\n";
      using server = releaseServer("v9.9.9", { [BARE]: broken, [`${BARE}.sha256`]: `${sha256(Buffer.from(broken))}  ${BARE}\n` });
      using dir = installed();
      const r = await update(dir.exe, server.base);
      expect([r.code, r.stderr, readdirSync(dir.dir), await version(dir.exe)]).toEqual([
        1,
        [`Error: the downloaded executable does not run ('${dir.exe}.new -V' exited with code 3: cannot start); it was deleted and ${dir.exe} is unchanged`],
        ["soli-proxy"],
        versionLine(pkg.version),
      ]);
    },
    SLOW,
  );

  test(
    "suggests sudo when it may not write beside the executable, before downloading",
    async () => {
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
    },
    SLOW,
  );

  test(
    "draws a progress bar (bytes, total, rate) when stderr is a terminal",
    async () => {
      using server = releaseServer("v9.9.9", { [BARE]: file(BARE), [`${BARE}.sha256`]: file(`${BARE}.sha256`) });
      using dir = installed();
      // script(1) runs the update on a pseudo-terminal and copies what it drew to stdout
      const r = await run(["script", "-qec", `${dir.exe} update`, "/dev/null"], { SOLI_PROXY_UPDATE_URL: server.base });
      const total = (file(BARE).length / 1e6).toFixed(1);
      expect([r.code, new RegExp(`\\r\\[#{24}\\] ${total} MB / ${total} MB  [\\d.]+ MB/s`).test(r.stdout.join("\n")), await version(dir.exe)]).toEqual([
        0,
        true,
        versionLine("9.9.9"),
      ]);
    },
    SLOW,
  );

  test(
    "from source it explains that only the compiled executable updates itself",
    async () => {
      const r = await runCli(["update"], { env: { SOLI_PROXY_UPDATE_URL: "http://127.0.0.1:9/unused" } });
      expect([r.code, r.stdout.trim().split("\n"), r.stderr.split("\n")[0]]).toEqual([
        1,
        header,
        "Error: update only works for the compiled soli-proxy executable",
      ]);
    },
    SLOW,
  );

  test(
    "the release script's artifacts: executable and tarball for this platform, each with a sha256sum-format checksum",
    async () => {
      const check = Bun.spawnSync(["sha256sum", "-c", `${BARE}.sha256`, `${TARBALL}.sha256`], { cwd: artifacts });
      const listing = Bun.spawnSync(["tar", "tzvf", TARBALL], { cwd: artifacts }).stdout.toString().trim().split(/\s+/);
      const latest = JSON.parse(readFileSync(join(artifacts, "latest"), "utf8")) as {
        tag_name: string;
        assets: { name: string; browser_download_url: string; size: number }[];
      };
      expect([latest.tag_name, latest.assets.map((a) => [a.name, a.browser_download_url, a.size])]).toEqual([
        "v9.9.9",
        [BARE, `${BARE}.sha256`, TARBALL, `${TARBALL}.sha256`].map((name) => [name, name, file(name).length]),
      ]);
      expect([
        readdirSync(artifacts)
          .filter((n) => n !== "impostor")
          .sort(),
        check.stdout.toString(),
        listing[0],
        listing[1],
        listing.at(-1),
      ]).toEqual([["latest", BARE, `${BARE}.sha256`, TARBALL, `${TARBALL}.sha256`], `${BARE}: OK\n${TARBALL}: OK\n`, "-rwxr-xr-x", "root/root", "soli-proxy"]);
    },
    SLOW,
  );

  test("from a channel directory written by scripts/release.ts and served by nginx, it installs 9.9.9 and upgrades the running proxy in place under load; --rollback puts the previous executable back the same way", async () => {
    await using channel = await nginx(artifacts);
    using upstream = backend(() => new Response("ok"));
    using dir = installed();
    dir.write("proxy.conf", `default -> ${upstream.url}\n`);
    dir.write("config.toml", testToml(`[update]\nurl = "${channel.base}"\n`));
    await using proxy = await spawnProxy(dir.conf, { exe: dir.exe, env: { PATH: "/usr/bin:/bin", HOME: dir.dir }, args: ["--watch", "false"], cwd: dir.dir });
    const control = new ControlClient(join(dir.dir, "run", "control.sock"));
    const primaries = [proxy.proc.pid];
    try {
      // 4 clients looping for the whole test, bounded in count and time
      let stop = false;
      let served = 0;
      const failures: string[] = [];
      const deadline = Date.now() + 90_000;
      const loop = async () => {
        for (let i = 0; i < 50_000 && !stop && Date.now() < deadline; i++) {
          try {
            const res = await fetch(`http://127.0.0.1:${proxy.http}/`);
            const body = await res.text();
            if (res.status === 200 && body === "ok") served++;
            else failures.push(`${res.status} ${body.slice(0, 80)}`);
          } catch (err) {
            failures.push((err as Error).message);
          }
        }
      };
      const loops = Promise.all(Array.from({ length: 4 }, loop));
      await waitFor(() => served >= 100, "traffic before the update", 10_000);

      const updated = await run([dir.exe, "update", "-c", dir.conf], { HOME: dir.dir }, { cwd: dir.dir });
      const upgradedTo = Number(/\(PID (\d+)\)$/.exec(updated.stdout.at(-1) ?? "")?.[1]);
      primaries.push(upgradedTo);
      const afterUpdate = {
        status: (await control.get<{ version: string }>("status")).version,
        pidFile: readPidFile(join(dir.dir, "run")),
        oldExit: await proxy.proc.exited,
      };
      const servedAtUpdate = served;
      await waitFor(() => served >= servedAtUpdate + 100, "traffic after the update", 10_000);

      const rolledBack = await run([dir.exe, "update", "--rollback", "-c", dir.conf], { HOME: dir.dir }, { cwd: dir.dir });
      const rolledTo = Number(/\(PID (\d+)\)$/.exec(rolledBack.stdout.at(-1) ?? "")?.[1]);
      primaries.push(rolledTo);
      await waitFor(() => !isAlive(upgradedTo), "the 9.9.9 primary to exit", 15_000);
      const servedAtRollback = served;
      await waitFor(() => served >= servedAtRollback + 100, "traffic after the rollback", 10_000);
      stop = true;
      await loops;

      expect({ code: updated.code, stdout: updated.stdout, stderr: updated.stderr, ...afterUpdate }).toEqual({
        code: 0,
        stdout: [
          ...header,
          "Latest version: v9.9.9",
          `Downloading ${TARBALL}...`,
          `SHA-256 OK (${sha256(file(TARBALL))}).`,
          "soli-proxy v9.9.9 installed.",
          `running proxy upgraded to v9.9.9 (PID ${upgradedTo})`,
        ],
        stderr: [],
        status: "9.9.9",
        pidFile: upgradedTo,
        oldExit: 0,
      });
      expect({
        code: rolledBack.code,
        stdout: rolledBack.stdout,
        status: (await control.get<{ version: string }>("status")).version,
        pidFile: readPidFile(join(dir.dir, "run")),
        failures,
      }).toEqual({
        code: 0,
        stdout: [
          "Current version: 9.9.9",
          `Detected platform: ${platform}`,
          `Rolled back to soli-proxy ${pkg.version} (9.9.9 kept as ${dir.exe}.old).`,
          `running proxy rolled back to v${pkg.version} (PID ${rolledTo})`,
        ],
        status: pkg.version,
        pidFile: rolledTo,
        failures: [],
      });
      expect([await version(dir.exe), await version(`${dir.exe}.old`)]).toEqual([versionLine(pkg.version), versionLine("9.9.9")]);
    } finally {
      for (const pid of primaries) if (pid > 0 && isAlive(pid)) process.kill(pid, "SIGTERM");
      await waitFor(() => primaries.every((pid) => !(pid > 0) || !isAlive(pid)), "the proxies to exit", 15_000);
    }
  }, 120_000);

  test(
    "--no-restart installs but leaves the running proxy as it is",
    async () => {
      await using channel = await nginx(artifacts);
      using upstream = backend(() => new Response("ok"));
      using dir = installed();
      dir.write("proxy.conf", `default -> ${upstream.url}\n`);
      dir.write("config.toml", testToml(`[update]\nurl = "${channel.base}"\n`));
      await using proxy = await spawnProxy(dir.conf, { exe: dir.exe, env: { PATH: "/usr/bin:/bin", HOME: dir.dir }, args: ["--watch", "false"], cwd: dir.dir });
      const r = await run([dir.exe, "update", "--no-restart", "-c", dir.conf], { HOME: dir.dir }, { cwd: dir.dir });
      const status = await new ControlClient(join(dir.dir, "run", "control.sock")).get<{ version: string }>("status");
      expect([r.code, r.stdout.slice(-2), status.version, readPidFile(join(dir.dir, "run")), await version(dir.exe)]).toEqual([
        0,
        ["soli-proxy v9.9.9 installed.", "Restart it to use the new version."],
        pkg.version,
        proxy.proc.pid,
        versionLine("9.9.9"),
      ]);
    },
    SLOW,
  );

  test(
    "--check reports the update and installs nothing",
    async () => {
      await using channel = await nginx(artifacts);
      using dir = installed();
      const r = await run([dir.exe, "update", "--check"], { SOLI_PROXY_UPDATE_URL: channel.base });
      expect([r.code, r.stdout, readdirSync(dir.dir), await version(dir.exe)]).toEqual([
        0,
        [...header, `Update available: ${pkg.version} -> v9.9.9`],
        ["soli-proxy"],
        versionLine(pkg.version),
      ]);
    },
    SLOW,
  );

  test(
    "without a channel it says how to set one, and no built-in channel points at another project",
    async () => {
      using dir = installed();
      const r = await run([dir.exe, "update"], {}, { cwd: dir.dir });
      const strings = readFileSync(dir.exe).includes("api.github.com/repos/solisoft");
      expect([r.code, r.stdout, r.stderr, strings]).toEqual([1, header, [`Error: ${NO_CHANNEL}`], false]);
    },
    SLOW,
  );

  test(
    "refuses another program that calls itself soli-proxy 9.9.9 (no runtime part), and a soli-proxy of another version than the tag; both are deleted",
    async () => {
      const other = readFileSync(impostor);
      using server = releaseServer("v9.9.9", { [BARE]: other, [`${BARE}.sha256`]: `${sha256(other)}  ${BARE}\n` });
      using wrongTag = releaseServer("v9.9.8", { [TARBALL]: file(TARBALL), [`${TARBALL}.sha256`]: file(`${TARBALL}.sha256`) });
      using dir = installed();
      const refused = await update(dir.exe, server.base);
      const wrong = await update(dir.exe, wrongTag.base);
      expect([refused.code, refused.stderr, wrong.code, wrong.stderr, readdirSync(dir.dir), await version(dir.exe)]).toEqual([
        1,
        [
          `Error: the downloaded executable is not this soli-proxy: '${dir.exe}.new -V' printed 'soli-proxy 9.9.9', not 'soli-proxy <version> (bun <version>)'; it was deleted and ${dir.exe} is unchanged`,
        ],
        1,
        [`Error: the downloaded executable is soli-proxy 9.9.9, not the release's 9.9.8; it was deleted and ${dir.exe} is unchanged`],
        ["soli-proxy"],
        versionLine(pkg.version),
      ]);
    },
    SLOW,
  );

  test(
    "bad channel answers each get a clear error and change nothing: tampered .sha256, truncated download, tarball with ../x, latest not JSON or without fields",
    async () => {
      // a tarball holding soli-proxy and ../x, made by GNU tar
      const work = mkdtempSync(join(tmpdir(), "soli-evil-"));
      writeFileSync(join(work, "soli-proxy"), "x");
      writeFileSync(join(tmpdir(), "soli-evil-x"), "evil");
      Bun.spawnSync(["tar", "czf", join(work, "evil.tar.gz"), "-P", "soli-proxy", "../soli-evil-x"], { cwd: work });
      const evil = readFileSync(join(work, "evil.tar.gz"));
      rmSync(work, { recursive: true, force: true });
      rmSync(join(tmpdir(), "soli-evil-x"), { force: true });

      const bare = file(BARE);
      using tampered = releaseServer("v9.9.9", { [BARE]: bare, [`${BARE}.sha256`]: `not-a-checksum ${BARE}\n` });
      using evilTar = releaseServer("v9.9.9", { [TARBALL]: evil, [`${TARBALL}.sha256`]: `${sha256(evil)}  ${TARBALL}\n` });
      // the listing says the asset's size; the server sends only half of it and closes
      using truncated = backend((req) => {
        const path = new URL(req.url).pathname;
        if (path === "/latest")
          return Response.json({
            tag_name: "v9.9.9",
            assets: [
              { name: BARE, size: bare.length, browser_download_url: "/dl" },
              { name: `${BARE}.sha256`, browser_download_url: "/sum" },
            ],
          });
        if (path === "/sum") return new Response(`${sha256(bare)}  ${BARE}\n`);
        // streamed (chunked, no Content-Length): only the listing's size says it is short
        return new Response(new Blob([bare.subarray(0, bare.length >> 1)]).stream());
      });
      using notJson = backend(() => new Response("<html>maintenance</html>", { headers: { "content-type": "text/html" } }));
      using noFields = backend(() => Response.json({ tag_name: "v9.9.9" }));
      using dir = installed();
      const results = [];
      for (const base of [tampered.base, truncated.url, evilTar.base, notJson.url, noFields.url]) {
        const r = await update(dir.exe, base);
        results.push([r.code, r.stderr]);
      }
      expect(results).toEqual([
        [1, [`Error: ${BARE}.sha256 does not start with a SHA-256 (64 hex characters). Refusing to install.`]],
        [1, [`Error: download of ${BARE} is incomplete: got ${bare.length >> 1} of ${bare.length} bytes`]],
        [1, [`Error: ${TARBALL} holds more than soli-proxy (../soli-evil-x). Refusing to install.`]],
        [1, [`Error: the release server sent something that is not JSON for ${notJson.url}/latest`]],
        [1, [`Error: no assets list in the release from ${noFields.url}/latest`]],
      ]);
      expect([readdirSync(dir.dir), sha256(readFileSync(dir.exe)) === sha256(readFileSync(oldBinary))]).toEqual([["soli-proxy"], true]);
    },
    SLOW,
  );

  test(
    "a new executable that crashes, or is not ready in time, is killed and the running proxy keeps serving and says why (SPEC §15.5 step 3)",
    async () => {
      using upstream = backend(() => new Response("ok"));
      using dir = installed();
      dir.write("proxy.conf", `default -> ${upstream.url}\n`);
      dir.write("config.toml", testToml());
      // the 30 s of SPEC §15.5 shortened for the test
      await using proxy = await spawnProxy(dir.conf, {
        exe: dir.exe,
        env: { PATH: "/usr/bin:/bin", HOME: dir.dir, SOLI_PROXY_INTERNAL_UPGRADE_READY_MS: "1500" },
        args: ["--watch", "false"],
        cwd: dir.dir,
      });
      const control = new ControlClient(join(dir.dir, "run", "control.sock"));
      // renamed over the executable, as update does: the running proxy keeps its own inode
      const replaceWith = (script: string) => {
        writeFileSync(`${dir.exe}.tmp`, script);
        chmodSync(`${dir.exe}.tmp`, 0o755);
        renameSync(`${dir.exe}.tmp`, dir.exe);
      };
      const upgradeError = async () => {
        try {
          await control.post("upgrade", undefined, { timeoutMs: 20_000 });
          return "upgraded";
        } catch (err) {
          return err instanceof ControlError ? `${err.status} ${err.message}` : String(err);
        }
      };
      replaceWith("#!/bin/sh\necho 'cannot start' >&2\nexit 3\n");
      const crashed = await upgradeError();
      replaceWith("#!/bin/sh\nexec sleep 60\n");
      const hung = await upgradeError();
      const hungPid = Number(/PID (\d+)/.exec(hung)?.[1]);
      const res = await fetch(`http://127.0.0.1:${proxy.http}/`);
      expect({
        crashed,
        hung: hung.replace(String(hungPid), "N"),
        hungGone: !isAlive(hungPid),
        status: res.status,
        body: await res.text(),
        pidFile: readPidFile(join(dir.dir, "run")),
        running: proxy.proc.exitCode,
      }).toEqual({
        crashed: expect.stringMatching(/^500 upgrade failed, this proxy keeps serving: the new primary \(PID \d+\) exited with code 3 before it was ready$/),
        hung: "500 upgrade failed, this proxy keeps serving: the new primary (PID N) was not ready within 2 s and was killed",
        hungGone: true,
        status: 200,
        body: "ok",
        pidFile: proxy.proc.pid,
        running: null,
      });
      expect(proxy.output()).toContain("upgrade failed, this proxy keeps serving: the new primary");
    },
    SLOW,
  );
});
