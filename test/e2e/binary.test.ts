/**
 * The compiled single executable (issue 8 item 1): copied alone into an empty directory, with a
 * bare environment (no Bun on PATH, no node_modules or source tree anywhere above it), it must
 * still print its version, check a project and proxy real HTTP and HTTPS traffic.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json";
import { backend } from "../support/backend.ts";
import { compiledBinary } from "../support/binary.ts";
import { tempProject, testToml, type TempProject } from "../support/project.ts";
import { spawnProxy } from "../support/spawn.ts";
import { waitFor } from "../support/wait.ts";
import { isAlive, readPidFile } from "../../src/runtime/pidfile.ts";

/** Real processes and 100 MB executables on a shared machine: well above the 5 s default. */
const SLOW = 30_000;

let project: TempProject;
let exe: string;
let bareEnv: Record<string, string>;

beforeAll(async () => {
  const built = await compiledBinary();
  project = tempProject();
  exe = join(project.dir, "soli-proxy");
  copyFileSync(built, exe);
  bareEnv = { PATH: "/usr/bin:/bin", HOME: project.dir };
}, 120_000);

afterAll(() => project?.remove());

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([exe, ...args], { cwd: project.dir, env: bareEnv, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

describe("the compiled executable", () => {
  test(
    "runs alone in an empty directory and prints the package.json version",
    async () => {
      const before = readdirSync(project.dir);
      const v = await run(["-V"]);
      expect([before, v.code, v.stdout.trim(), v.stderr]).toEqual([["soli-proxy"], 0, `soli-proxy ${pkg.version} (bun ${Bun.version})`, ""]);
    },
    SLOW,
  );

  test(
    "checks the project beside it and ignores a .env in the working directory",
    async () => {
      project.write("proxy.conf", "default -> http://127.0.0.1:9\n/x -> http://127.0.0.1:9\n");
      project.write("config.toml", testToml());
      // Bun's default for compiled programs would load this into process.env and send check elsewhere.
      project.write(".env", "SOLI_CONFIG_PATH=/nonexistent/proxy.conf\n");
      const ok = await run(["check"]);
      project.write("proxy.conf", "/x -> ftp://nope\n");
      const bad = await run(["check"]);
      expect([ok.code, ok.stdout.trim(), bad.code, bad.stdout.trim().split("\n")]).toEqual([
        0,
        "ok: 2 rules, 0 apps, 0 certificates",
        1,
        [`${project.conf}:1:7: error: unsupported scheme 'ftp:' in 'ftp://nope' (use http, https, ws, wss or redirect)`, "1 error, 0 warnings"],
      ]);
    },
    SLOW,
  );

  test(
    "proxies HTTP and HTTPS requests, making its self-signed certificate at start-up",
    async () => {
      using upstream = backend((req) => new Response(`hello ${new URL(req.url).pathname}`));
      project.write("proxy.conf", `default -> ${upstream.url}\n`);
      project.write("config.toml", testToml());
      await using proxy = await spawnProxy(project.conf, { exe, env: bareEnv, cwd: project.dir });
      const plain = await fetch(`http://127.0.0.1:${proxy.http}/a`);
      const secure = await fetch(`https://127.0.0.1:${proxy.https}/b`, { tls: { rejectUnauthorized: false } });
      expect([plain.status, await plain.text(), secure.status, await secure.text(), readdirSync(join(project.dir, "certs")).sort()]).toEqual([
        200,
        "hello /a",
        200,
        "hello /b",
        ["self-signed.cert.pem", "self-signed.key.pem"],
      ]);
      expect(await proxy.stop("SIGTERM")).toBe(0);
    },
    SLOW,
  );

  test(
    'logging.format = "text" prints readable lines through pino-pretty, with no worker file on disk',
    async () => {
      project.write("proxy.conf", "default -> http://127.0.0.1:9\n");
      project.write("config.toml", testToml('[logging]\nformat = "text"\n'));
      const proc = Bun.spawn([exe, "-c", project.conf], { cwd: project.dir, env: bareEnv, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      let out = "";
      void (async () => {
        for await (const chunk of proc.stdout as unknown as AsyncIterable<Uint8Array>) out += new TextDecoder().decode(chunk);
      })();
      try {
        await waitFor(() => out.includes("soli-proxy listening"), "the listening line", 10_000);
      } finally {
        proc.kill("SIGTERM");
      }
      const stderr = await new Response(proc.stderr).text();
      expect([
        await proc.exited,
        out
          .split("\n")
          .find((l) => l.includes("soli-proxy listening"))
          ?.match(/^\d{4}-[\d-]+T[\d:.]+Z INFO: soli-proxy listening http=/) !== null,
        stderr,
      ]).toEqual([0, true, ""]);
    },
    SLOW,
  );

  test(
    "in letsencrypt mode it loads its ACME client and reports an unreachable CA by domain",
    async () => {
      project.write("proxy.conf", "shop.example.com -> http://127.0.0.1:9\n");
      project.write(
        "config.toml",
        testToml(
          '[tls]\nmode = "letsencrypt"\n[letsencrypt]\nemail = "ops@example.com"\nterms_agreed = true\ndirectory_url = "https://127.0.0.1:9/directory"\n',
        ),
      );
      await using proxy = await spawnProxy(project.conf, { exe, env: bareEnv, cwd: project.dir });
      const line = await waitFor(
        () =>
          proxy
            .output()
            .split("\n")
            .find((l) => l.includes('"domain":"shop.example.com"')),
        "the ACME error line",
        10_000,
      );
      expect([JSON.parse(line).err.startsWith("ACME directory https://127.0.0.1:9/directory unreachable"), proxy.errors()]).toEqual([true, ""]);
      expect(await proxy.stop("SIGTERM")).toBe(0);
    },
    SLOW,
  );

  test(
    "worker_threads = 2 spawns the executable alone as its two workers, which serve the traffic",
    async () => {
      using upstream = backend(() => new Response("via a worker"));
      project.write("proxy.conf", `default -> ${upstream.url}\n`);
      project.write("config.toml", testToml("[logging]\nlog_endpoints = true\n").replace("worker_threads = 1", "worker_threads = 2"));
      await using proxy = await spawnProxy(project.conf, { exe, env: bareEnv, cwd: project.dir });
      const res = await fetch(`http://127.0.0.1:${proxy.http}/`);
      const body = await res.text();
      const lines = proxy
        .output()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const workers = lines.filter((l) => l.msg === "worker listening");
      const commands = workers.map((l) => readFileSync(`/proc/${l.pid}/cmdline`, "utf8").split("\0").filter(Boolean));
      const served = await waitFor(
        () =>
          proxy
            .output()
            .split("\n")
            .find((l) => l.includes('"endpoint request"')),
        "the endpoint line",
      );
      expect([res.status, body, workers.map((l) => l.worker).sort(), commands, typeof JSON.parse(served).worker]).toEqual([
        200,
        "via a worker",
        [0, 1],
        [[exe], [exe]],
        "number",
      ]);
      expect(await proxy.stop("SIGTERM")).toBe(0);
    },
    SLOW,
  );

  test(
    "-d re-runs the executable itself as the daemon",
    async () => {
      project.write("proxy.conf", "default -> http://127.0.0.1:9\n");
      project.write("config.toml", testToml());
      const started = await run(["-d", "-c", "proxy.conf"]);
      const pid = readPidFile(join(project.dir, "run"));
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
        expect([started.code, started.stdout.trim(), cmdline]).toEqual([0, `soli-proxy running as daemon (PID ${pid})`, [exe, "-c", "proxy.conf"]]);
      } finally {
        if (pid) process.kill(pid, "SIGTERM");
      }
      await waitFor(() => pid && !isAlive(pid) && readPidFile(join(project.dir, "run")) === null, "the daemon to exit and remove its pid file");
    },
    SLOW,
  );
});
