import { describe, expect, test } from "bun:test";
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AppError } from "../../src/apps/errors.ts";
import type { AppEvent } from "../../src/apps/events.ts";
import { acceptsConnections } from "../../src/apps/slot-ports.ts";
import { processAlive } from "../../src/apps/process.ts";
import { backend } from "../support/backend.ts";
import { defaultInfos, IS_ROOT, setBehaviour, startAppsProxy, writeApp } from "../support/apps.ts";
import { ROOT } from "../support/spawn.ts";
import { waitFor } from "../support/wait.ts";

type AppAnswer = {
  version: string;
  port: number;
  pid: number;
  uid: number;
  gid: number;
  cwd: string;
  argv: string[];
  env: Record<string, string>;
  path: string;
};
const json = async (res: Response) => (await res.json()) as AppAnswer;

describe("managed apps in the proxy (SPEC §14)", () => {
  test("an app answers for its domain, www. form and dev alias, in its own directory with a cleared environment", async () => {
    await using proxy = await startAppsProxy({ dev: true, apps: { "shop.example.org": {} } });
    const [plain, www, alias] = (await Promise.all(
      ["shop.example.org", "www.shop.example.org", "shop.example.test"].map((h) => proxy.get(h, "/x?y=1").then(json)),
    )) as [AppAnswer, AppAnswer, AppAnswer];
    const info = proxy.handle.apps.get("shop.example.org");
    const envKeys = ["HOME", "PATH", "PORT", "WORKERS", ...(process.env.LANG ? ["LANG"] : []), ...(process.env.TZ ? ["TZ"] : [])].sort();
    expect({
      ports: [plain.port, www.port, alias.port],
      path: plain.path,
      cwd: plain.cwd,
      env: Object.keys(plain.env).sort(),
      port: plain.env.PORT,
      workers: plain.env.WORKERS,
      argv: plain.argv,
      aliases: proxy.handle.devAliases(),
      slot: [info.current_slot, info.blue.status, info.blue.pid, info.green.status],
    }).toEqual({
      ports: [info.blue.port, info.blue.port, info.blue.port],
      path: "/x",
      cwd: join(proxy.sites, "shop.example.org"),
      env: envKeys,
      port: String(info.blue.port),
      workers: "1",
      argv: [],
      aliases: ["shop.example.test"],
      slot: ["blue", "Running", plain.pid, "Stopped"],
    });
    const state = JSON.parse(readFileSync(join(proxy.project.dir, "run", "app_state.json"), "utf8"));
    const ports = JSON.parse(readFileSync(join(proxy.project.dir, "run", "ports.lock"), "utf8"));
    expect(state).toEqual({
      "shop.example.org": {
        current_slot: "blue",
        stopped: false,
        blue: { port: info.blue.port, pid: plain.pid, status: "Running" },
        green: { port: info.green.port, pid: null, status: "Stopped" },
      },
    });
    expect(
      Object.values(ports).map((e) => {
        const { timestamp, ...rest } = e as { timestamp: string };
        return [rest, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(timestamp)];
      }),
    ).toEqual([
      [{ app_name: "shop.example.org", slot: "blue", port: info.blue.port }, true],
      [{ app_name: "shop.example.org", slot: "green", port: info.green.port }, true],
    ]);
  });

  test("a host rule for an app's host is logged as never matching, with its line, once the app takes the host", async () => {
    const hash = await Bun.password.hash("pw", { algorithm: "bcrypt", cost: 4 });
    await using proxy = await startAppsProxy({
      conf: `# the app answers first\nsecret.example.com -> http://127.0.0.1:9 @auth:admin:${hash}\n`,
      apps: { "secret.example.com": {} },
    });
    const said = await waitFor(
      () => proxy.logs().find((l) => l.level === "warn" && String(l.msg).includes("can never match (nor its auth)")),
      "the shadowed host rule warning",
    );
    expect(String(said.msg).replace(proxy.project.conf, "proxy.conf")).toBe(
      "proxy.conf:2:1: warning: rule 'secret.example.com' can never match (nor its auth): the managed app secret.example.com answers that host first",
    );
    // Said once, not at every routing-table change.
    await proxy.handle.reload();
    expect(proxy.logs().filter((l) => String(l.msg).includes("can never match (nor its auth)")).length).toBe(1);
  });

  test("the shipped demo app in sites/ runs and answers for demo.localhost", async () => {
    await using proxy = await startAppsProxy({
      before: (project) => {
        cpSync(join(ROOT, "sites", "demo.localhost"), join(project.dir, "sites", "demo.localhost"), { recursive: true });
        chmodSync(join(project.dir, "sites", "demo.localhost"), 0o755);
      },
    });
    const res = await proxy.get("demo.localhost");
    expect([
      res.status,
      (await res.text()).includes("<h1>Hello from demo.localhost</h1>"),
      proxy.handle.apps.list().map((a) => [a.config.name, a.config.health_check, a.blue.status]),
    ]).toEqual([200, true, [["demo.localhost", "/health", "Running"]]]);
  });

  test.if(IS_ROOT)("a root proxy runs the app as the configured user and group", async () => {
    await using proxy = await startAppsProxy({ apps: { "who.example.com": {} } });
    const answer = await json(await proxy.get("who.example.com"));
    const status = readFileSync(`/proc/${answer.pid}/status`, "utf8");
    const field = (name: string) => new RegExp(`^${name}:[ \t]*(.*)$`, "m").exec(status)?.[1]?.trim().split(/\s+/).join(" ");
    // real, effective, saved and filesystem ids all dropped; no supplementary group of root's kept
    expect([answer.uid, answer.gid, answer.env.HOME, field("Uid"), field("Gid"), field("Groups")]).toEqual([
      65534,
      65534,
      "/nonexistent",
      "65534 65534 65534 65534",
      "65534 65534 65534 65534",
      "",
    ]);
  });

  test("refuses to spawn an app as root when no user is configured", async () => {
    // As root this is the real check; as another user the app just runs as that user.
    await using proxy = await startAppsProxy({ appsToml: "[apps]\n", apps: { "rootless.example.com": {} } });
    const info = proxy.handle.apps.get("rootless.example.com");
    if (IS_ROOT) {
      const deploy = await proxy.handle.apps.deploy("rootless.example.com").catch((e: AppError) => ({ kind: e.kind, message: e.message }));
      expect([info.blue.status, info.last_error, deploy]).toEqual([
        "Failed",
        `Refusing to spawn rootless.example.com as root: no user/group configured (set user in ${proxy.sites}/rootless.example.com/app.infos or [apps] default_user in config.toml)`,
        {
          kind: "failed",
          message: `Deployment failed: Refusing to spawn rootless.example.com as root: no user/group configured (set user in ${proxy.sites}/rootless.example.com/app.infos or [apps] default_user in config.toml)`,
        },
      ]);
    } else {
      expect(info.blue.status).toBe("Running");
    }
  });

  test("deploys to the other slot under concurrent load without a single failed request", async () => {
    await using proxy = await startAppsProxy({
      apps: { "load.example.com": { infos: defaultInfos().replace("drain_delay = 0", "drain_delay = 1"), behaviour: { version: "v1" } } },
    });
    const dir = join(proxy.sites, "load.example.com");
    setBehaviour(dir, { version: "v2" });
    const events: AppEvent[] = [];
    proxy.handle.apps.subscribe((e) => events.push(e));
    let running = true;
    let answered = 0;
    const statuses = new Map<number, number>();
    const versions: string[] = [];
    const client = async () => {
      while (running) {
        try {
          const res = await proxy.get("load.example.com", "/");
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.status === 200) {
            const v = (await json(res)).version;
            if (versions.at(-1) !== v) versions.push(v);
          } else await res.arrayBuffer();
        } catch {
          statuses.set(0, (statuses.get(0) ?? 0) + 1);
        }
        answered++;
      }
    };
    const clients = Array.from({ length: 6 }, client);
    // Load on both sides of the deploy: every client answered before it starts, and again after
    // it returned (the old slot is stopped by then, so those answers come from the new one).
    await waitFor(() => answered >= 30, "the clients to be under way");
    const result = await proxy.handle.apps.deploy("load.example.com");
    const atDeployEnd = answered;
    await waitFor(() => answered >= atDeployEnd + 30, "more answers after the deploy");
    running = false;
    await Promise.all(clients);
    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    const info = proxy.handle.apps.get("load.example.com");
    expect({ statuses: [...statuses.keys()], versions, result, slots: [info.current_slot, info.blue.status, info.green.status, info.blue.pid] }).toEqual({
      statuses: [200],
      versions: ["v1", "v2"],
      result: { message: "Deployment started", app: "load.example.com", slot: "green" },
      slots: ["green", "Stopped", "Running", null],
    });
    expect(total).toBeGreaterThan(50);
    // Progress (SPEC §14.7) interleaves: health probes collapse to one entry here.
    const seen = events.map((e) => (e.type === "Progress" ? `Progress:${e.phase}` : e.type + ("status" in e ? `:${e.slot}:${e.status}` : "")));
    expect(seen.filter((e, i) => e !== seen[i - 1])).toEqual([
      "StatusChanged:green:starting",
      "Progress:starting",
      "Progress:health",
      "Progress:switched",
      "Progress:draining",
      "StatusChanged:blue:stopped",
      "Deployed",
      "StatusChanged:green:running",
      "Progress:done",
    ]);
  });

  test("a slot that never becomes healthy is stopped; the error names the URL, the last failure and the log; the old slot keeps serving", async () => {
    await using proxy = await startAppsProxy({ apps: { "sick.example.com": { behaviour: { version: "v1" } } }, timings: { healthWaitMs: 500 } });
    setBehaviour(join(proxy.sites, "sick.example.com"), { version: "v2", health: 503 });
    const before = proxy.handle.apps.get("sick.example.com");
    const error = await proxy.handle.apps.deploy("sick.example.com").catch((e: AppError) => e);
    const after = proxy.handle.apps.get("sick.example.com");
    const url = `http://127.0.0.1:${before.green.port}/health`;
    expect({
      kind: (error as AppError).kind,
      message: (error as Error).message,
      serving: (await json(await proxy.get("sick.example.com"))).version,
      slots: [after.current_slot, after.blue.status, after.green.status, after.green.pid],
    }).toEqual({
      kind: "failed",
      message: `Deployment failed: sick.example.com slot green did not become healthy on ${url} within 0.5s (last error: HTTP 503; see run/logs/sick.example.com/green.log)`,
      serving: "v1",
      slots: ["blue", "Running", "Failed", null],
    });
    expect(readFileSync(join(proxy.project.dir, "run", "logs", "sick.example.com", "green.log"), "utf8")).toContain("test app v2 listening");
  });

  test("a deploy while another runs for the same app is refused as busy", async () => {
    await using proxy = await startAppsProxy({ apps: { "busy.example.com": {} } });
    const first = proxy.handle.apps.deploy("busy.example.com");
    const second = await proxy.handle.apps.restart("busy.example.com").catch((e: AppError) => [e.kind, e.message]);
    const missing = await proxy.handle.apps.deploy("nope.example.com").catch((e: AppError) => [e.kind, e.message]);
    expect([second, missing, (await first).slot]).toEqual([
      ["busy", "Deployment already in progress for busy.example.com"],
      ["not_found", "App not found: nope.example.com"],
      "green",
    ]);
  });

  test("kill -9 of the active process: the app is restarted in the other slot and serves again within 5 s", async () => {
    await using proxy = await startAppsProxy({ apps: { "crash.example.com": {} } });
    const events: string[] = [];
    proxy.handle.apps.subscribe((e) => events.push(e.type));
    const first = await json(await proxy.get("crash.example.com"));
    const killedAt = Date.now();
    process.kill(first.pid, "SIGKILL");
    const again = await waitFor(
      async () => {
        const res = await proxy.get("crash.example.com");
        return res.status === 200 ? json(res) : null;
      },
      "the app to serve again",
      5000,
      50,
    );
    const elapsed = Date.now() - killedAt;
    const info = proxy.handle.apps.get("crash.example.com");
    expect({ port: again.port, slot: info.current_slot, exits: info.unexpected_exits, events: events.includes("Restarted") }).toEqual({
      port: info.green.port,
      slot: "green",
      exits: 1,
      events: true,
    });
    expect(elapsed).toBeLessThan(5000);
    expect(proxy.logs().some((l) => l.msg === "app crash.example.com slot blue killed by signal 9")).toBe(true);
  });

  test("a crash loop backs off between restarts and stops after more than 3 unexpected exits, visible in status", async () => {
    await using proxy = await startAppsProxy({ apps: { "loop.example.com": { behaviour: { exitAfterMs: 400 } } }, timings: { crashBackoffMs: 300 } });
    const seen: { status: string; at: number }[] = [];
    proxy.handle.apps.subscribe((e) => e.type === "StatusChanged" && seen.push({ status: e.status, at: Date.now() }));
    const info = await waitFor(
      () => {
        const i = proxy.handle.apps.get("loop.example.com");
        return i.gave_up ? i : null;
      },
      "the supervisor to give up",
      15000,
      50,
    );
    // Nothing more happens once it gave up. No event marks a retry that was not scheduled, so the
    // window is the clock under test: past the next back-off (300 ms * 2^2) a 4th start would show.
    await Bun.sleep(1200 + 200);
    // back-off: from each failure to the next start (the first failover is at once, then 300 ms, then 600 ms)
    const starts = seen.filter((e) => e.status === "starting");
    const waits = starts.map((s) => s.at - seen.filter((e) => e.status === "failed" && e.at <= s.at).at(-1)!.at);
    expect({
      restarts: starts.length,
      exits: info.unexpected_exits,
      statuses: [info.blue.status, info.green.status],
      error: info.last_error?.replace(/slot \w+/, "slot X").startsWith("loop.example.com slot X exited with status 3"),
      routed: await proxy.get("loop.example.com").then((r) => [r.status, r.headers.get("retry-after")]),
      backoff: [waits[0]! < 250, waits[1]! >= 290, waits[2]! >= 590],
    }).toEqual({
      restarts: 3,
      exits: 4,
      statuses: ["Failed", "Failed"],
      error: true,
      // a known app with no running slot: 503 to retry, not 421 (SPEC §14.9)
      routed: [503, "5"],
      backoff: [true, true, true],
    });
  });

  test("the health monitor marks a non-2xx answer Unhealthy and fails over when the app stops answering", async () => {
    await using proxy = await startAppsProxy({ apps: { "mon.example.com": {} }, timings: { monitorIntervalMs: 200 } });
    const info = proxy.handle.apps.get("mon.example.com");
    await fetch(`http://127.0.0.1:${info.blue.port}/__control/health?status=500`);
    await waitFor(() => proxy.handle.apps.get("mon.example.com").blue.status === "Unhealthy", "status Unhealthy", 3000);
    const stillRouted = (await proxy.get("mon.example.com")).status;
    await fetch(`http://127.0.0.1:${info.blue.port}/__control/close`);
    const after = await waitFor(
      () => {
        const i = proxy.handle.apps.get("mon.example.com");
        return i.current_slot === "green" && i.green.status === "Running" && i.blue.status !== "Running" && i.blue.status !== "Unhealthy" ? i : null;
      },
      "a failover to green and the old slot stopped",
      5000,
    );
    expect([stillRouted, after.blue.status, (await json(await proxy.get("mon.example.com"))).port]).toEqual([200, "Stopped", info.green.port]);
    expect(proxy.logs().some((l) => l.msg === "health check of mon.example.com answered 500")).toBe(true);
  });

  test("a transport error proxying to an app starts a failover", async () => {
    // the health monitor is kept out of the way: only the failed request may notice
    await using proxy = await startAppsProxy({ apps: { "deaf.example.com": {} }, timings: { monitorIntervalMs: 60_000 } });
    const info = proxy.handle.apps.get("deaf.example.com");
    await fetch(`http://127.0.0.1:${info.blue.port}/__control/close`);
    await waitFor(async () => !(await acceptsConnections(info.blue.port)), "the app to stop listening", 3000);
    const failed = (await proxy.get("deaf.example.com")).status;
    const again = await waitFor(
      async () => {
        const res = await proxy.get("deaf.example.com");
        return res.status === 200 ? json(res) : null;
      },
      "the app to serve from the other slot",
      5000,
      50,
    );
    expect([failed, again.port, proxy.handle.apps.get("deaf.example.com").current_slot]).toEqual([502, info.green.port, "green"]);
  });

  test("per-app metrics count requests, bytes and errors by slot port", async () => {
    await using proxy = await startAppsProxy({ apps: { "count.example.com": {} } });
    const before = proxy.handle.apps.metrics("count.example.com");
    const sizes: number[] = [];
    for (let i = 0; i < 3; i++) sizes.push((await (await proxy.get("count.example.com", `/n${i}`)).arrayBuffer()).byteLength);
    await (await fetch(proxy.url + "/post", { method: "POST", headers: { host: "count.example.com" }, body: "x".repeat(100) })).arrayBuffer();
    const m = proxy.handle.apps.metrics("count.example.com")!;
    expect(before).toBeNull();
    expect({
      ...m,
      avg_response_time_ms: m.avg_response_time_ms > 0,
      last_request_ms: Math.abs(m.last_request_ms! - Date.now()) < 5000,
      bytes_sent: m.bytes_sent > sizes[0]! * 3,
    }).toEqual({
      requests: 4,
      bytes_received: 100,
      bytes_sent: true,
      avg_response_time_ms: true,
      errors: 0,
      last_request_ms: true,
    });
    expect(Object.keys(proxy.handle.apps.allMetrics())).toEqual(["count.example.com"]);
  });

  test("an app overrides a domain rule for its host while host+path rules keep their paths", async () => {
    using api = backend(() => new Response("api"));
    await using proxy = await startAppsProxy({
      conf: `prec.example.com/api/* -> ${api.url}\nprec.example.com -> http://127.0.0.1:9\n`,
      apps: { "prec.example.com": {} },
    });
    const [app, mount] = await Promise.all([
      proxy.get("prec.example.com", "/x").then((r) => r.status),
      proxy.get("prec.example.com", "/api/x").then((r) => r.text()),
    ]);
    expect([app, mount]).toEqual([200, "api"]);
  });

  test("stop stops both slots and keeps the app down; logs returns both slots", async () => {
    await using proxy = await startAppsProxy({ apps: { "halt.example.com": {} } });
    const pid = proxy.handle.apps.get("halt.example.com").blue.pid!;
    const result = await proxy.handle.apps.stop("halt.example.com");
    const info = proxy.handle.apps.get("halt.example.com");
    const logs = proxy.handle.apps.logs("halt.example.com");
    expect({
      result,
      alive: processAlive(pid),
      status: [info.blue.status, info.green.status, info.stopped],
      routed: await proxy.get("halt.example.com").then(async (r) => [r.status, r.headers.get("retry-after"), await r.text()]),
      logs,
    }).toEqual({
      result: { message: "App stopped", app: "halt.example.com" },
      alive: false,
      status: ["Stopped", "Stopped", true],
      routed: [503, "5", "Service Unavailable"],
      logs: { app: "halt.example.com", blue: `test app v1 listening on ${info.blue.port}\n`, green: "" },
    });
  });

  test("shutdown stops every app, both slots", async () => {
    const proxy = await startAppsProxy({ apps: { "a.example.com": {}, "b.example.com": {} } });
    const pids = proxy.handle.apps.list().map((a) => a.blue.pid!);
    const state = join(proxy.project.dir, "run", "app_state.json");
    await proxy.handle.shutdown();
    const recorded = JSON.parse(readFileSync(state, "utf8"));
    proxy.project.remove();
    expect([pids.length, pids.map(processAlive), recorded["a.example.com"].blue, recorded["a.example.com"].stopped]).toEqual([
      2,
      [false, false],
      { port: expect.any(Number), pid: null, status: "Stopped" },
      false,
    ]);
  });

  test("start-up never signals a recorded pid that is not the app's command (SPEC §14.7) and starts the app in its recorded slot", async () => {
    let leftover = 0;
    await using proxy = await startAppsProxy({
      apps: { "again.example.com": {} },
      before: async (project) => {
        // an earlier run left green serving: a detached process recorded in app_state.json
        const child = Bun.spawn([process.execPath, "-e", "setInterval(() => {}, 1000)"], { detached: true, stdio: ["ignore", "ignore", "ignore"] });
        child.unref();
        leftover = child.pid;
        mkdirSync(join(project.dir, "run"), { recursive: true });
        writeFileSync(
          join(project.dir, "run", "app_state.json"),
          JSON.stringify({
            "again.example.com": {
              current_slot: "green",
              stopped: false,
              blue: { port: 1, pid: null, status: "Stopped" },
              green: { port: 2, pid: leftover, status: "Running" },
            },
          }),
        );
      },
    });
    const info = proxy.handle.apps.get("again.example.com");
    const otherAlive = processAlive(leftover);
    process.kill(leftover, "SIGKILL");
    // test/e2e/upgrade.test.ts covers adopting the app's own process and stopping one that does not answer
    expect([otherAlive, info.current_slot, info.green.status, (await json(await proxy.get("again.example.com"))).port]).toEqual([
      true,
      "green",
      "Running",
      info.green.port,
    ]);
  });

  test("the sites directory is watched: a new app starts and is routed, a removed one is stopped and forgotten", async () => {
    await using proxy = await startAppsProxy({ watch: true, apps: { "stay.example.com": {} } });
    writeApp(proxy.project, "new.example.com");
    const answer = await waitFor(
      async () => {
        const res = await proxy.get("new.example.com");
        return res.status === 200 ? json(res) : null;
      },
      "the new app to be routed",
      8000,
      50,
    );
    rmSync(join(proxy.sites, "new.example.com"), { recursive: true, force: true });
    await waitFor(async () => (await proxy.get("new.example.com")).status === 421 && !processAlive(answer.pid), "the removed app to stop", 8000, 50);
    const ports = JSON.parse(readFileSync(join(proxy.project.dir, "run", "ports.lock"), "utf8"));
    await waitFor(() => !readFileSync(join(proxy.project.dir, "run", "ports.lock"), "utf8").includes("new.example.com"), "its ports to be released", 3000);
    expect([proxy.handle.apps.list().map((a) => a.config.name), Object.values(ports).length > 0]).toEqual([["stay.example.com"], true]);
  });

  test("in --dev a changed app file restarts the app, while node_modules and *.log changes do not", async () => {
    await using proxy = await startAppsProxy({ dev: true, watch: true, apps: { "edit.example.com": { behaviour: { version: "v1" } } } });
    const dir = join(proxy.sites, "edit.example.com");
    mkdirSync(join(dir, "node_modules"), { recursive: true });
    writeFileSync(join(dir, "node_modules", "dep.js"), "1");
    writeFileSync(join(dir, "debug.log"), "1");
    // A new app after them: once the watcher registered it, it handled a batch holding the ignored
    // changes (a batch's touched apps accumulate, so coalescing hides nothing). A restart would
    // have been logged in that same handler.
    writeApp(proxy.project, "probe.example.com");
    await waitFor(() => proxy.handle.apps.list().some((a) => a.config.name === "probe.example.com"), "the watcher to find the probe app", 8000);
    const restarting = proxy.logs().filter((l) => l.msg === "files of edit.example.com changed; restarting").length;
    const untouched = proxy.handle.apps.get("edit.example.com").current_slot;
    setBehaviour(dir, { version: "v2" });
    const answer = await waitFor(
      async () => {
        const a = await json(await proxy.get("edit.example.com"));
        return a.version === "v2" ? a : null;
      },
      "the restarted app",
      8000,
      50,
    );
    expect([restarting, untouched, proxy.handle.apps.get("edit.example.com").current_slot, answer.port]).toEqual([
      0,
      "blue",
      "green",
      proxy.handle.apps.get("edit.example.com").green.port,
    ]);
    expect(existsSync(join(proxy.project.dir, "run", "logs", "edit.example.com", "green.log"))).toBe(true);
  });

  test("an app's own /metrics and /health/* reach it on its host; the proxy answers them by IP, for unknown hosts and on metrics.host (SPEC §5.2)", async () => {
    await using proxy = await startAppsProxy({ apps: { "own.example.com": {} }, toml: '[metrics]\nhost = "ops.example.com"\n' });
    const path = async (host: string, p: string) => {
      const res = await proxy.get(host, p);
      const text = await res.text();
      return res.headers.get("content-type")?.includes("json")
        ? `app ${(JSON.parse(text) as { path: string }).path}`
        : `proxy ${res.status} ${text.slice(0, 12)}`;
    };
    expect(
      await Promise.all([
        path("own.example.com", "/metrics"),
        path("own.example.com", "/health/live"),
        path("127.0.0.1", "/health/live"),
        path("unknown.example.com", "/health/ready"),
        path("127.0.0.1", "/metrics"),
        path("ops.example.com", "/health/live"),
      ]),
    ).toEqual(["app /metrics", "app /health/live", "proxy 200 OK", "proxy 200 OK", "proxy 200 # HELP proxy", "proxy 200 OK"]);
  });
});
