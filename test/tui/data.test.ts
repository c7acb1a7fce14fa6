import { describe, expect, test } from "bun:test";
import { appendFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { splitEvents } from "../../src/control/admin-client.ts";
import { ErrorLogTail, readAppFiles } from "../../src/tui/data/files.ts";
import { dialOrigin, locate } from "../../src/tui/data/places.ts";
import { tempProject } from "../support/project.ts";

const line = (id: string, status: number) =>
  JSON.stringify({
    level: "info",
    time: "2025-01-01T00:00:00.000Z",
    msg: "endpoint request",
    layer: "endpoint",
    req_id: id,
    method: "GET",
    host: "h",
    path: "/",
    status,
  }) + "\n";

describe("what the TUI reads from disk each tick (SPEC §14.6, §16.5)", () => {
  test("the endpoint log is read incrementally: appended lines, a line still being written, a rotated file", () => {
    using project = tempProject();
    const file = join(project.dir, "proxy.log");
    const tail = new ErrorLogTail(file);
    const ids = () => tail.read().errors.map((e) => e.reqId);
    const seen: unknown[] = [tail.read().exists];
    writeFileSync(file, line("a", 200) + line("b", 502));
    seen.push(ids());
    const c = line("c", 503);
    appendFileSync(file, c.slice(0, 20));
    seen.push(ids());
    appendFileSync(file, c.slice(20) + line("d", 404));
    seen.push(ids());
    renameSync(file, `${file}.1`);
    writeFileSync(file, line("e", 500));
    seen.push(ids());
    expect(seen).toEqual([false, ["b"], ["b"], ["b", "c"], ["b", "c", "e"]]);
  });

  test("a long existing log is read from its last MiB, without the cut first line", () => {
    using project = tempProject();
    const file = join(project.dir, "proxy.log");
    const filler = line("x", 200);
    writeFileSync(file, line("old", 500) + filler.repeat(Math.ceil((1.5 * 1024 * 1024) / filler.length)) + line("new", 500));
    expect(new ErrorLogTail(file).read().errors.map((e) => e.reqId)).toEqual(["new"]);
  });

  test("the state files and the sites directory, missing files being empty", () => {
    using project = tempProject({
      "run/app_state.json": JSON.stringify({
        "a.test": { current_slot: "green", stopped: false, blue: { port: 1, pid: null, status: "Stopped" }, green: { port: 2, pid: 7, status: "Running" } },
      }),
      "run/ports.lock": JSON.stringify({ "1": { app_name: "a.test", slot: "blue", port: 1, timestamp: "t" }, "9": { app_name: 5 } }),
      "sites/a.test/app.infos": "",
      "sites/_admin/app.infos": 'name = "admin-ui"\n',
      "sites/notanapp/x": "",
      "sites/.hidden.test/x": "",
      "sites/file.test": "",
    });
    const places = {
      appStateFile: join(project.dir, "run/app_state.json"),
      portsLockFile: join(project.dir, "run/ports.lock"),
      sitesDir: join(project.dir, "sites"),
    };
    expect({ files: readAppFiles(places), empty: readAppFiles({ appStateFile: "/nope/a", portsLockFile: "/nope/b", sitesDir: "/nope/c" }) }).toEqual({
      files: {
        state: {
          "a.test": { current_slot: "green", stopped: false, blue: { port: 1, pid: null, status: "Stopped" }, green: { port: 2, pid: 7, status: "Running" } },
        },
        ports: [{ app_name: "a.test", slot: "blue", port: 1 }],
        sites: ["admin-ui", "a.test"],
      },
      empty: { state: {}, ports: [], sites: [] },
    });
  });

  test("places: run/ beside proxy.conf, the [logging] file output or the daemon's log, admin access from config.toml and .env", () => {
    using project = tempProject({
      "proxy.conf": "",
      "config.toml": '[logging]\noutput = "file:logs/p.log"\n[admin]\nbind = "0.0.0.0:9191"\napi_key = "k"\n',
      ".env": "ADMIN_USER=ops\n",
    });
    using plain = tempProject({ "proxy.conf": "", "config.toml": "[admin]\nenabled = false\n" });
    using broken = tempProject({ "proxy.conf": "", "config.toml": "[admin\n" });
    const a = locate({ conf: project.conf, sitesDir: "sites", env: {} });
    const b = locate({ conf: plain.conf, sitesDir: "/srv/sites", env: { ADMIN_USER: "root" } });
    const c = locate({ conf: broken.conf, sitesDir: "sites", env: {} });
    expect({
      socket: a.socketPath,
      log: [a.logFile, b.logFile],
      admin: [a.admin, b.admin],
      problem: [a.settingsProblem, c.settingsProblem?.startsWith(broken.toml)],
      sites: b.sitesDir,
    }).toEqual({
      socket: join(project.dir, "run", "control.sock"),
      log: [join(project.dir, "logs", "p.log"), join(plain.dir, "run", "logs", "proxy.log")],
      admin: [
        { enabled: true, origin: "http://127.0.0.1:9191", apiKey: "k", user: "ops" },
        { enabled: false, origin: "http://127.0.0.1:9090", apiKey: "", user: "root" },
      ],
      problem: [null, true],
      sites: "/srv/sites",
    });
  });

  test("admin.bind is dialled on loopback for wildcard hosts, and not at all on port 0", () => {
    expect(["127.0.0.1:9090", "0.0.0.0:80", "[::]:9090", "[::1]:1", "localhost:0", "nonsense"].map(dialOrigin)).toEqual([
      "http://127.0.0.1:9090",
      "http://127.0.0.1:80",
      "http://[::1]:9090",
      "http://[::1]:1",
      null,
      null,
    ]);
  });

  test("server-sent events: complete events with their data lines joined, the rest kept", () => {
    expect([splitEvents(': connected\n\ndata: {"a":1}\n\ndata: x\ndata: y\r\n\r\ndata: {"b"'), splitEvents("")]).toEqual([
      { events: ['{"a":1}', "x\ny"], rest: 'data: {"b"' },
      { events: [], rest: "" },
    ]);
  });
});
