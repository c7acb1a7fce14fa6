import { describe, expect, test } from "bun:test";
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ControlClient, controlSocketPath } from "../../src/control/client.ts";
import { adminToml, startAdminProxy } from "../support/admin.ts";
import { backend } from "../support/backend.ts";
import { testToml } from "../support/project.ts";
import { spawnProxy } from "../support/spawn.ts";
import { waitFor } from "../support/wait.ts";

interface Status {
  config_version: number;
  last_reload_error: string | null;
  https_port: number;
}

async function body(url: string): Promise<string> {
  const res = await fetch(url);
  return `${res.status} ${await res.text()}`;
}

/** How editors save: write a temporary file, then rename it over the original. */
function saveByRename(path: string, text: string): void {
  const tmp = `${path}.swp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

const appliedLines = (logs: Record<string, unknown>[]) => logs.filter((l) => /^config v\d+ applied$/.test(String(l.msg))).map((l) => l.msg);

/** The watcher's reload found both files as last read (the reloader's debug line). */
const UNCHANGED = "config files unchanged; nothing to reload";
const unchangedSeen = (logs: Record<string, unknown>[]) => logs.filter((l) => l.msg === UNCHANGED).length;

// Concurrent (issue 19): each test has its own project, proxy and watcher; they wait on the
// debounce and on reloads, not on the CPU: 5-7 s in series, 2.5 s together.
describe.concurrent("hot reload (SPEC §13)", () => {
  test("a proxy.conf replaced by rename is applied once; a save with the same content is no change", async () => {
    using a = backend(() => new Response("A"));
    using b = backend(() => new Response("B"));
    using c = backend(() => new Response("C"));
    await using proxy = await startAdminProxy(`default -> ${a.url}\n`, { toml: adminToml(), watch: true });
    saveByRename(proxy.project.conf, `default -> ${b.url}\n`);
    await waitFor(() => proxy.handle.current().version === 2, "v2 after the rename");
    const afterRename = await body(proxy.url);
    // A no-op save, then a real change: only the real change may produce a version.
    writeFileSync(proxy.project.conf, `default -> ${b.url}\n`);
    // Seen and judged on its own (not folded into the next change by the debounce): either the
    // watcher says "unchanged" or, were it wrong, a v3 appears; the assertion below tells them apart.
    await waitFor(() => unchangedSeen(proxy.logs()) === 1 || proxy.handle.current().version > 2, "the watcher to judge the no-op save");
    saveByRename(proxy.project.conf, `default -> ${c.url}\n`);
    await waitFor(() => proxy.handle.current().version === 3, "v3 after the second change");
    expect([afterRename, await body(proxy.url), appliedLines(proxy.logs())]).toEqual(["200 B", "200 C", ["config v2 applied", "config v3 applied"]]);
  });

  test("keeps the old routes when proxy.conf is invalid, logging file:line:col and reporting it in /status", async () => {
    using a = backend(() => new Response("A"));
    await using proxy = await startAdminProxy(`default -> ${a.url}\n`, { watch: true });
    const control = new ControlClient(proxy.handle.controlSocket!);
    writeFileSync(proxy.project.conf, `default -> ${a.url}\n/x -> http://127.0.0.1:1 @lb:random\n`);
    const status = await waitFor(async () => {
      const s = await control.get<Status>("status");
      return s.last_reload_error ? s : null;
    }, "the rejected reload in /status");
    const message = `${proxy.project.conf}:2:26: error: unknown @lb strategy 'random' (use round-robin, weighted or failover)`;
    const logged = proxy.logs().find((l) => l.msg === "config reload rejected, keeping v1");
    expect([status.config_version, status.last_reload_error, logged?.issues, await body(`${proxy.url}/x`)]).toEqual([1, message, [message], "200 A"]);

    writeFileSync(proxy.project.conf, `default -> ${a.url}\n/x -> ${a.url}/x\n`);
    const fixed = await waitFor(async () => {
      const s = await control.get<Status>("status");
      return s.config_version === 2 ? s : null;
    }, "v2 after the fix");
    expect(fixed.last_reload_error).toBeNull();
  });

  test("config.toml changes apply at the next request; restart-only settings are reported, not applied", async () => {
    await using proxy = await startAdminProxy("default -> http://127.0.0.1:9\n", { watch: true });
    const toml = adminToml().replace("https_port = 0", "https_port = 18443").replace("[admin]", '[health]\nliveness_path = "/alive"\n\n[admin]');
    saveByRename(proxy.project.toml, toml);
    await waitFor(() => proxy.handle.current().version === 2, "v2 after the config.toml change");
    const control = new ControlClient(proxy.handle.controlSocket!);
    const warning = proxy.logs().find((l) => l.key === "server.https_port");
    expect([
      await body(`${proxy.url}/alive`),
      warning?.msg,
      warning?.level,
      proxy.handle.applied().settings.server.https_port,
      (await control.get<Status>("status")).https_port,
    ]).toEqual(["200 OK", "server.https_port changed; restart to apply", "warn", 0, proxy.handle.https!.port]);
  });

  test("the proxy's own admin writes do not trigger a second reload through the watcher", async () => {
    await using proxy = await startAdminProxy("default -> http://127.0.0.1:9\n", { watch: true });
    const control = new ControlClient(proxy.handle.controlSocket!);
    const added = await control.post<{ index: number }>("routes", { matcher: { type: "exact", value: "/x" }, targets: [{ url: "http://127.0.0.1:9" }] });
    // The watcher does see our own rename; the moment it judged it has passed once it says
    // "unchanged" (or, were it wrong, once it applied a v3).
    await waitFor(() => unchangedSeen(proxy.logs()) === 1 || proxy.handle.current().version > 2, "the watcher to judge the admin write");
    expect([added.index, proxy.handle.current().version, appliedLines(proxy.logs())]).toEqual([1, 2, ["config v2 applied"]]);
  });

  test("with --watch false a changed file waits for an explicit reload", async () => {
    using a = backend(() => new Response("A"));
    await using proxy = await startAdminProxy("default -> http://127.0.0.1:9\n", { watch: false });
    // A twin that watches gets the same edit at the same time: once it applied it, a watcher in
    // the first proxy would have applied it too.
    await using twin = await startAdminProxy("default -> http://127.0.0.1:9\n", { watch: true });
    writeFileSync(proxy.project.conf, `default -> ${a.url}\n`);
    writeFileSync(twin.project.conf, `default -> ${a.url}\n`);
    await waitFor(() => twin.handle.current().version === 2, "the watching twin to apply the edit");
    const before = proxy.handle.current().version;
    const result = await proxy.handle.reload();
    expect([before, result, await body(proxy.url)]).toEqual([1, { ok: true, version: 2 }, "200 A"]);
  });

  test("SIGUSR1 and SIGHUP reload a running process", async () => {
    using a = backend(() => new Response("A"));
    using b = backend(() => new Response("B"));
    const { tempProject } = await import("../support/project.ts");
    using project = tempProject({ "proxy.conf": "default -> http://127.0.0.1:9\n", "config.toml": testToml() });
    await using proxy = await spawnProxy(project.conf, { args: ["--watch", "false"] });
    const control = new ControlClient(controlSocketPath(project.conf));
    const version = async () => {
      if (proxy.proc.exitCode !== null || proxy.proc.signalCode)
        throw new Error(`the proxy exited (${proxy.proc.signalCode ?? proxy.proc.exitCode}): ${proxy.errors()}${proxy.output().slice(-2000)}`);
      return (await control.get<Status>("status")).config_version;
    };
    writeFileSync(project.conf, `default -> ${a.url}\n`);
    proxy.proc.kill("SIGUSR1");
    await waitFor(async () => (await version()) === 2, "v2 after SIGUSR1");
    const viaA = await body(`http://127.0.0.1:${proxy.http}/`);
    writeFileSync(project.conf, `default -> ${b.url}\n`);
    proxy.proc.kill("SIGHUP");
    await waitFor(async () => (await version()) === 3, "v3 after SIGHUP");
    expect([viaA, await body(`http://127.0.0.1:${proxy.http}/`), join(project.dir, "run", "control.sock")]).toEqual(["200 A", "200 B", control.socketPath]);
  });
});
