import { describe, expect, test } from "bun:test";
import { backend } from "../support/backend.ts";
import { tempProject, testToml } from "../support/project.ts";
import { runCli, spawnProxy } from "../support/spawn.ts";
import pkg from "../../package.json";
import { waitFor } from "../support/wait.ts";

describe("command line (SPEC §2)", () => {
  test("-V prints the version from package.json and -h the usage, both exiting 0", async () => {
    const v = await runCli(["-V"]);
    const h = await runCli(["--help"]);
    expect([v.code, v.stdout.trim(), h.code, h.stdout.includes("Usage:")]).toEqual([0, `soli-proxy ${pkg.version} (bun ${Bun.version})`, 0, true]);
  });

  test("an unknown flag or a flag missing its value is a usage error with exit 2", async () => {
    const unknown = await runCli(["--frobnicate"]);
    const missing = await runCli(["check", "-c"]);
    expect([unknown.code, unknown.stderr.split("\n")[0], missing.code, missing.stderr.split("\n")[0]]).toEqual([
      2,
      "Error: unknown option '--frobnicate'",
      2,
      "Error: -c needs a value",
    ]);
  });

  test("a missing proxy.conf is a one-line error with exit 1", async () => {
    const r = await runCli(["-c", "/nonexistent/proxy.conf"]);
    expect([r.code, r.stderr.trim()]).toEqual([1, "Error: config file '/nonexistent/proxy.conf' not found"]);
  });

  test("SOLI_CONFIG_PATH names proxy.conf when -c is not given", async () => {
    using project = tempProject({ "proxy.conf": "default -> http://127.0.0.1:9\n" });
    const r = await runCli(["check"], { cwd: project.dir, env: { SOLI_CONFIG_PATH: project.conf } });
    expect([r.code, r.stdout.trim().split("\n").pop()]).toEqual([0, "ok: 1 rule, 0 apps, 0 certificates"]);
  });

  test("an invalid proxy.conf refuses to start, naming file, line and column", async () => {
    using project = tempProject({ "proxy.conf": "default -> http://127.0.0.1:9\n/x -> ftp://nope\n", "config.toml": testToml() });
    const r = await runCli(["-c", project.conf]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${project.conf}:2:7: error: unsupported scheme 'ftp:'`);
  });

  test("a proxy listener that cannot bind is exit 1", async () => {
    const taken = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
    using project = tempProject({
      "proxy.conf": "default -> http://127.0.0.1:9\n",
      "config.toml": testToml().replace('bind = "127.0.0.1:0"', `bind = "127.0.0.1:${taken.port}"`),
    });
    const r = await runCli(["-c", project.conf]);
    taken.stop(true);
    expect([r.code, r.stderr.includes("Error: cannot listen")]).toEqual([1, true]);
  });
});

describe("check (SPEC §16.2)", () => {
  test("prints every problem with file:line:col, errors first, and exits 1", async () => {
    using project = tempProject({
      "proxy.conf": "/a -> http://a:1 @nope:1\n/b -> weight:999 http://b:1\n~^/(x -> http://c:1\n",
      "config.toml": '[server]\nbind = "nowhere"\ncolour = "red"\n',
      "sites/shop.example.com/app.infos": 'graceful_timeout = "soon"\n',
      "sites/notanapp/readme.txt": "x",
    });
    const r = await runCli(["check", "-c", project.conf, "--sites-dir", `${project.dir}/sites`]);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => l.replace(project.dir, "<dir>"));
    expect(r.code).toBe(1);
    expect(lines).toEqual([
      "<dir>/config.toml:2:1: error: expected \"host:port\", got 'nowhere'",
      "<dir>/proxy.conf:2:7: error: weight must be an integer from 0 to 255",
      "<dir>/proxy.conf:3:2: error: invalid regex '^/(x': missing )",
      "<dir>/sites/shop.example.com/app.infos:1:1: error: graceful_timeout: graceful_timeout must be an integer",
      "<dir>/config.toml:3:1: warning: unknown key 'server.colour' ignored",
      "<dir>/proxy.conf:1:18: warning: unknown directive '@nope' ignored",
      "<dir>/sites/notanapp: warning: 'notanapp' skipped: an app directory is named after its domain (with a '.') or starts with '_'",
      "4 errors, 3 warnings",
    ]);
  });

  test("a valid project prints a summary and exits 0, with warnings allowed", async () => {
    using project = tempProject({
      "proxy.conf": "default -> http://a:1\nold.test -> redirect://new.test\n/api/* -> http://b:1\n/api/* -> http://c:1\n",
      // a user to run as: as root an app without one would not start (a check warning, SPEC §14.4)
      "sites/shop.example.com/app.infos": 'start_script = "bun run server.ts"\nuser = "nobody"\n',
      "sites/_admin/.keep": "",
    });
    const r = await runCli(["check", "-c", project.conf, "--sites-dir", `${project.dir}/sites`]);
    expect([r.code, r.stdout.trim().split("\n").pop()]).toEqual([0, "ok: 4 rules, 2 apps, 0 certificates"]);
    expect(r.stdout).toContain("proxy.conf:4:1: warning: rule '/api/*' can never match: the rule '/api/*' on line 3 comes first");
  });

  test("a mistyped arrow is an error naming the line, and check exits 1 (SPEC §3.7)", async () => {
    using project = tempProject({ "proxy.conf": "default -> http://a:1\nblog.test => http://127.0.0.1:3000\n" });
    const r = await runCli(["check", "-c", project.conf, "--sites-dir", `${project.dir}/sites`]);
    expect([r.code, r.stdout.trim().split("\n")]).toEqual([1, [`${project.conf}:2:1: error: not a rule: the arrow is '->', not '=>'`, "1 error, 0 warnings"]]);
  });
});

describe("process lifecycle", () => {
  test("SIGTERM lets an in-flight request finish, then exits 0", async () => {
    // The backend answers only once the drain has begun: the request is in flight through it.
    const draining = Promise.withResolvers<void>();
    using b = backend(async () => {
      await draining.promise;
      return new Response("finished");
    });
    using project = tempProject({ "proxy.conf": `default -> ${b.url}\n`, "config.toml": testToml() });
    await using proxy = await spawnProxy(project.conf);
    const inFlight = fetch(`http://127.0.0.1:${proxy.http}/slow`).then((r) => r.text());
    await waitFor(() => b.seen.length === 1, "the request at the backend");
    const exited = proxy.stop("SIGTERM");
    await waitFor(() => proxy.output().includes("Received shutdown signal, draining connections..."), "the drain to begin");
    draining.resolve();
    const code = await exited;
    expect([await inFlight, code]).toEqual(["finished", 0]);
    expect(proxy.output()).toContain("Received shutdown signal, draining connections...");
  });
});
