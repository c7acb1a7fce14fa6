import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { backend } from "../support/backend.ts";
import { startTestProxy, tempProject, testToml } from "../support/project.ts";
import { spawnProxy } from "../support/spawn.ts";
import { waitFor } from "../support/wait.ts";

describe("endpoint logs (SPEC §9)", () => {
  test("log_endpoints writes one line per request with the SPEC fields", async () => {
    using b = backend(() => new Response("twelve bytes"));
    await using proxy = await startTestProxy(`/api/* -> ${b.url}`, { toml: "[logging]\nlog_endpoints = true\n" });
    await (await fetch(proxy.url + "/api/x?secret=1", { headers: { host: "shop.test:81" } })).text();
    await (await fetch(proxy.url + "/nowhere", { headers: { host: "shop.test:81" } })).text();
    const lines = await waitFor(() => {
      const l = proxy.logs().filter((e) => e.msg === "endpoint request");
      return l.length === 2 ? l : null;
    }, "two endpoint lines");
    const [ok, miss] = lines.map(({ time, req_id, elapsed_ms, ...rest }) => {
      expect([typeof time, typeof req_id, typeof elapsed_ms]).toEqual(["string", "string", "number"]);
      return rest;
    });
    expect(ok).toEqual({
      level: "info",
      layer: "endpoint",
      method: "GET",
      scheme: "http",
      host: "shop.test:81",
      path: "/api/x",
      status: 200,
      client_ip: "127.0.0.1",
      bytes: 12,
      upstream: `http://127.0.0.1:${b.port}`,
      route: "/api/*",
      msg: "endpoint request",
    });
    expect(miss).toMatchObject({ status: 421, route: "none", upstream: null, bytes: "Misdirected Request".length });
  });

  test("a streamed body is logged when it ends, with the bytes relayed", async () => {
    using b = backend(
      () =>
        new Response(
          new ReadableStream({
            async start(c) {
              c.enqueue(new Uint8Array(70_000));
              await Bun.sleep(50); // the body in two reads, apart: a streamed response is the case under test
              c.enqueue(new Uint8Array(30_000));
              c.close();
            },
          }),
        ),
    );
    await using proxy = await startTestProxy(`default -> ${b.url}`, { toml: "[logging]\nlog_endpoints = true\n" });
    expect((await (await fetch(proxy.url + "/stream")).arrayBuffer()).byteLength).toBe(100_000);
    const line = await waitFor(() => proxy.logs().find((e) => e.msg === "endpoint request"), "the endpoint line");
    expect([line.status, line.bytes]).toEqual([200, 100_000]);
  });

  test("no endpoint lines unless log_endpoints is on", async () => {
    using b = backend(() => new Response("x"));
    await using proxy = await startTestProxy(`default -> ${b.url}`);
    await (await fetch(proxy.url + "/")).text();
    expect(proxy.logs().filter((e) => e.layer === "endpoint")).toEqual([]);
  });

  test("text format and file output are honoured", async () => {
    using b = backend(() => new Response("x"));
    using project = tempProject({
      "proxy.conf": `default -> ${b.url}\n`,
      "config.toml": testToml('[logging]\nformat = "text"\noutput = "file:logs/proxy.txt"\nlog_endpoints = true\n'),
    });
    const started = Bun.spawn([process.execPath, join(import.meta.dir, "../../src/main.ts"), "-c", project.conf], { stdout: "pipe", stderr: "pipe" });
    const file = join(project.dir, "logs/proxy.txt");
    const listening = await waitFor(
      () => {
        try {
          return /soli-proxy listening .*http=127\.0\.0\.1:(\d+)/.exec(readFileSync(file, "utf8"));
        } catch {
          return null;
        }
      },
      "the listening line in the log file",
      10_000,
    );
    await (await fetch(`http://127.0.0.1:${listening[1]}/t`)).text();
    const text = await waitFor(() => {
      const t = readFileSync(file, "utf8");
      return t.includes("endpoint request") ? t : null;
    }, "the endpoint line");
    started.kill("SIGTERM");
    await started.exited;
    expect(text).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z INFO: endpoint request layer=endpoint .*path=\/t status=200/m);
  });
});

describe("readable logs where a person reads them (SPEC §9)", () => {
  test("--dev on a terminal prints one readable line per event; the same run piped prints JSON", async () => {
    const { openTerminal } = await import("../support/tmux.ts");
    const { MAIN } = await import("../support/spawn.ts");
    using project = tempProject({ "proxy.conf": "default -> http://127.0.0.1:9\n", "config.toml": testToml() });
    await using term = await openTerminal({ columns: 200, rows: 40 });
    await term.run(`${process.execPath} ${MAIN} --dev -c ${project.conf} --sites-dir ${project.dir}/sites`);
    const screen = await term.waitFor(/soli-proxy listening/, "the listening line", 15_000);
    // run/proxy.pid is written once start-up is over and the signal handlers are about to be set
    await waitFor(() => existsSync(join(project.dir, "run", "proxy.pid")), "run/proxy.pid", 10_000);
    await term.keys("C-c");
    await term.waitFor(/soli-proxy stopped/, "the proxy to stop", 15_000);
    const listening = screen.split("\n").find((l) => l.includes("soli-proxy listening")) ?? "";
    expect(listening).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z INFO: soli-proxy listening http=127\.0\.0\.1:\d+ /);
    expect(screen).not.toContain('{"level"');

    // not a terminal: JSON, --dev or not
    await using piped = await spawnProxy(project.conf, { args: ["--dev"] });
    expect(
      JSON.parse(
        piped
          .output()
          .split("\n")
          .find((l) => l.includes("soli-proxy listening")) ?? "null",
      ),
    ).toMatchObject({ level: "info", msg: "soli-proxy listening" });
  }, 40_000);
});
