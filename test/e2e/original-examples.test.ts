/**
 * The original soli-proxy's documented example files, as a user moving over copies them
 * (test/fixtures/original-examples, a copy of shared/original-examples): `check` accepts them with
 * warnings naming lines (SPEC §3.7), and a proxy starts on them and serves what can be served.
 */
import { describe, expect, test } from "bun:test";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assertBunUsableByNobody, IS_ROOT, openUp } from "../support/apps.ts";
import { startOnProject, startTestProxy, tempProject } from "../support/project.ts";
import { MAIN, runCli } from "../support/spawn.ts";
import { waitFor } from "../support/wait.ts";

const EXAMPLES = join(import.meta.dir, "..", "fixtures", "original-examples");

/** `check` on the copy, as this process's user (null) or as another uid. */
async function runCheckAs(project: { conf: string; dir: string }, uid: number | null) {
  if (uid === null) return runCli(["check", "-c", project.conf, "--sites-dir", join(project.dir, "sites")]);
  assertBunUsableByNobody();
  const proc = Bun.spawn([process.execPath, MAIN, "check", "-c", project.conf], {
    uid,
    gid: uid,
    env: { PATH: "/usr/bin:/bin" },
    cwd: "/",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

function copyOfExamples() {
  const project = tempProject();
  cpSync(EXAMPLES, project.dir, { recursive: true });
  return project;
}

describe("the original's example files as written (SPEC §3.7, §14.2)", () => {
  test("check exits 0 and warns, naming the lines, about the duplicated /api/*, the headers block after a redirect and the missing launcher", async () => {
    using project = copyOfExamples();
    openUp(project);
    // As a user would run it: a root test run checks as `nobody` (as root, see the next test).
    const r = await runCheckAs(project, IS_ROOT ? 65534 : null);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => l.replace(project.dir, "<dir>"));
    expect({ code: r.code, stderr: r.stderr, lines }).toEqual({
      code: 0,
      stderr: "",
      lines: [
        "<dir>/proxy.conf:6:1: warning: rule '/api/*' can never match: the rule '/api/*' on line 3 comes first and always wins for the same requests",
        "<dir>/proxy.conf:8:1: warning: rule '/api/heavy' can never match: the rule '/api/*' on line 3 comes first and always wins for the same requests",
        "<dir>/proxy.conf:17:1: warning: this headers block belongs to the redirect rule on line 15 and has no effect there (a redirect is answered by the proxy, nothing goes upstream); move it above the first rule to make it global",
        "<dir>/proxy.conf:22:1: warning: route block '/auth/*' names no rule in this file",
        expect.stringMatching(
          /^<dir>\/sites\/proxy\.solisoft\.net\/app\.infos: warning: program 'soli' not found on PATH \(.*\); proxy\.solisoft\.net will fail to start until it is installed$/,
        ),
        "ok: 8 rules, 1 app, 0 certificates",
      ],
    });
  });

  test.if(IS_ROOT)("as root, check still exits 0 and warns that the app would run as root and what to set (SPEC §14.4)", async () => {
    using project = copyOfExamples();
    const r = await runCheckAs(project, null);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => l.replace(project.dir, "<dir>"));
    expect([r.code, lines.filter((l) => l.includes("app.infos")), lines.at(-1)]).toEqual([
      0,
      [
        '<dir>/sites/proxy.solisoft.net/app.infos: warning: proxy.solisoft.net would run as root, which soli-proxy refuses: it will not start until you set user = "<name>" in this app.infos or [apps] default_user in config.toml',
      ],
      "ok: 8 rules, 1 app, 0 certificates",
    ]);
  });

  test("a proxy starts on them: missing backends answer 502, the app without its launcher is Failed naming the program, the rest serves", async () => {
    const project = copyOfExamples();
    // Only the listeners move to free loopback ports (the file binds 0.0.0.0:8080); everything else is as written.
    const toml = readFileSync(project.toml, "utf8")
      .replace('bind = "0.0.0.0:8080"', 'bind = "127.0.0.1:0"')
      .replace("https_port = 8443", "https_port = 0")
      .replace('worker_threads = "auto"', "worker_threads = 1");
    // A root test run needs a user to drop to (SPEC §14.4); a non-root one runs the app as itself.
    writeFileSync(project.toml, `${toml}\n[admin]\nenabled = false\n${IS_ROOT ? '\n[apps]\ndefault_user = "nobody"\n' : ""}`);
    openUp(project);
    await using proxy = await startOnProject(project);
    await proxy.handle.appsStarted;
    const app = await waitFor(() => {
      const a = proxy.handle.apps.get("proxy.solisoft.net");
      return a.last_error !== null ? a : null;
    }, "the app to fail to start");
    const get = (host: string, path: string) => fetch(proxy.url + path, { headers: { host }, redirect: "manual" });
    const [fallback, redirect, metrics, live] = await Promise.all([
      get("anything.test", "/"),
      get("old.example.com", "/a?b=1"),
      get("127.0.0.1", "/metrics"),
      get("127.0.0.1", "/health/live"),
    ]);
    expect({
      status: app.blue.status,
      error: app.last_error,
      fallback: fallback.status,
      redirect: [redirect.status, redirect.headers.get("location")],
      metrics: metrics.status,
      live: [live.status, await live.text()],
    }).toEqual({
      status: "Failed",
      error: expect.stringContaining("program 'soli' not found on PATH"),
      fallback: 502,
      redirect: [301, "https://new.example.com/a?b=1"],
      metrics: 200,
      live: [200, "OK"],
    });
    expect(proxy.logs().some((l) => String(l.msg).includes("app proxy.solisoft.net did not start") && String(l.err).includes("'soli' not found"))).toBe(true);
  });

  test("the same warnings are logged when a reload applies the file", async () => {
    await using proxy = await startTestProxy("default -> http://127.0.0.1:9\n");
    writeFileSync(proxy.project.conf, "/api/* -> http://127.0.0.1:9\nold.test -> redirect://new.test\nheaders {\n  X-A: 1\n}\n/api/x -> http://127.0.0.1:8\n");
    const result = await proxy.handle.reload();
    const warnings = proxy
      .logs()
      .filter((l) => l.level === "warn")
      .map((l) => String(l.msg).replace(proxy.project.conf, "proxy.conf"));
    expect([result.ok, warnings]).toEqual([
      true,
      [
        "proxy.conf:3:1: warning: this headers block belongs to the redirect rule on line 2 and has no effect there (a redirect is answered by the proxy, nothing goes upstream); move it above the first rule to make it global",
        "proxy.conf:6:1: warning: rule '/api/x' can never match: the rule '/api/*' on line 1 comes first and always wins for the same requests",
      ],
    ]);
  });
});
