import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { openStreams as openSseStreams } from "../../src/admin/sse.ts";
import { API_KEY } from "../support/admin.ts";
import { defaultInfos, setBehaviour, startAppsProxy, type AppsProxy } from "../support/apps.ts";
import { runCli } from "../support/spawn.ts";
import { waitFor } from "../support/wait.ts";

/** Real clocks for the health wait: a probe every second, the app's own health_timeout. */
const REAL_WAIT = { healthIntervalMs: 1000, healthWaitMs: undefined };
const SLOW_BOOT_MS = 12_000;

interface SseEvent {
  event: string;
  data: any;
}

/** POSTs an app action asking for the SSE form (SPEC §11.2) and collects its events as they come. */
async function sseAction(
  proxy: AppsProxy,
  path: string,
  onEvent: (e: SseEvent) => void = () => {},
  signal?: AbortSignal,
): Promise<{ status: number; events: SseEvent[] }> {
  const res = await fetch(`http://127.0.0.1:${proxy.handle.admin!.port}/api/v1/${path}`, {
    method: "POST",
    headers: { accept: "text/event-stream", "x-api-key": API_KEY },
    signal,
  });
  const events: SseEvent[] = [];
  if (!(res.headers.get("content-type") ?? "").includes("text/event-stream"))
    return { status: res.status, events: [{ event: "json", data: await res.json() }] };
  let buffer = "";
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let at = buffer.indexOf("\n\n"); at >= 0; at = buffer.indexOf("\n\n")) {
      const block = buffer.slice(0, at);
      buffer = buffer.slice(at + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) {
        const e = { event, data: JSON.parse(data) };
        events.push(e);
        onEvent(e);
      }
    }
  }
  return { status: res.status, events };
}

const openFds = () => readdirSync("/proc/self/fd").length;

describe("deploys of slow-booting apps with live progress (SPEC §11.2, §14.7, §16.1)", () => {
  // Serial and first: it counts this process's descriptors and SSE streams, which tests running
  // beside it would change. The others mostly wait for slow boots and run together (issue 19).
  test("a client that goes away mid-deploy does not abort it, and leaves no stream, listener or file descriptor behind", async () => {
    await using proxy = await startAppsProxy({ admin: true, apps: { "gone.example.com": { behaviour: { version: "v1" } } }, timings: REAL_WAIT });
    setBehaviour(join(proxy.sites, "gone.example.com"), { version: "v2", listenAfterMs: 2500 });
    const before = { fds: openFds(), streams: openSseStreams(), listeners: proxy.handle.apps.subscribers() };
    // a watcher of /events/apps that also goes away
    const watcher = new AbortController();
    const watching = fetch(`http://127.0.0.1:${proxy.handle.admin!.port}/api/v1/events/apps`, { headers: { "x-api-key": API_KEY }, signal: watcher.signal });
    await watching;
    await waitFor(() => proxy.handle.apps.subscribers() === before.listeners + 1, "the event watcher to subscribe");

    const leave = new AbortController();
    const left = await sseAction(proxy, "apps/gone.example.com/deploy", (e) => e.data.phase === "health" && leave.abort(), leave.signal).catch(
      (e: Error) => e.name,
    );
    expect(left).toBe("AbortError");
    watcher.abort();
    await waitFor(
      () => proxy.handle.apps.get("gone.example.com").current_slot === "green" && proxy.handle.apps.get("gone.example.com").blue.status === "Stopped",
      "the deploy to finish",
      15_000,
    );
    await waitFor(() => openSseStreams() === before.streams, "the stream to be released");
    await waitFor(() => openFds() <= before.fds, `file descriptors back to ${before.fds}`);
    await waitFor(() => proxy.handle.apps.subscribers() === before.listeners, "the event watcher to unsubscribe");
    expect({
      version: ((await (await proxy.get("gone.example.com")).json()) as { version: string }).version,
      streams: openSseStreams(),
      listeners: proxy.handle.apps.subscribers(),
    }).toEqual({
      version: "v2",
      streams: before.streams,
      listeners: before.listeners,
    });
  }, 30_000);

  test.concurrent("an app that needs 12 s to boot deploys through the CLI over the control socket and through admin TCP as SSE, with its progress", async () => {
    await using proxy = await startAppsProxy({
      admin: true,
      apps: { "cli-slow.example.com": { behaviour: { version: "v1" } }, "sse-slow.example.com": { behaviour: { version: "v1" } } },
      timings: REAL_WAIT,
    });
    for (const app of ["cli-slow.example.com", "sse-slow.example.com"]) setBehaviour(join(proxy.sites, app), { version: "v2", listenAfterMs: SLOW_BOOT_MS });

    const started = Date.now();
    const [cli, sse] = await Promise.all([
      runCli(["deploy", "cli-slow.example.com", "-c", proxy.project.conf, "--sites-dir", proxy.sites], { cwd: proxy.project.dir }),
      sseAction(proxy, "apps/sse-slow.example.com/deploy"),
    ]);
    const took = Date.now() - started;

    const lines = cli.stdout.trimEnd().split("\n");
    expect({ code: cli.code, stderr: cli.stderr, last: lines.at(-1) }).toEqual({
      code: 0,
      stderr: "",
      last: "cli-slow.example.com deployed successfully (slot green)",
    });
    expect(lines[0]).toMatch(/^ {2}cli-slow\.example\.com: starting slot green on port \d+$/);
    const waits = lines.filter((l) => l.includes("health check") && l.includes("connection refused"));
    expect(waits.length).toBeGreaterThanOrEqual(10);
    expect(lines.some((l) => /health check \d+ \(\d+(\.\d)?s of 30s\): healthy$/.test(l))).toBe(true);
    expect(lines.some((l) => l.endsWith("traffic switched to slot green"))).toBe(true);
    expect(took).toBeGreaterThanOrEqual(SLOW_BOOT_MS);

    // SSE: the events in the order of SPEC §14.7, then `done` with the JSON form's data.
    const phases = sse.events.map((e) => (e.event === "progress" ? e.data.phase : `event:${e.event}`));
    const collapsed = phases.filter((p, i) => p !== phases[i - 1]);
    expect({ status: sse.status, collapsed, done: sse.events.at(-1)?.data }).toEqual({
      status: 200,
      collapsed: ["starting", "health", "switched", "draining", "done", "event:done"],
      done: { message: "Deployment started", app: "sse-slow.example.com", slot: "green" },
    });
    const health = sse.events.filter((e) => e.data.phase === "health").map((e) => e.data);
    expect(health[0]).toEqual({ phase: "health", attempt: 1, elapsed_secs: expect.any(Number), timeout_secs: 30, last_error: "connection refused" });
    expect(health.at(-1)?.last_error).toBeNull();
    expect(health.at(-1)?.elapsed_secs).toBeGreaterThanOrEqual(SLOW_BOOT_MS / 1000);
    expect(health.map((h) => h.attempt)).toEqual(health.map((_, i) => i + 1));
    expect(((await (await proxy.get("sse-slow.example.com")).json()) as { version: string }).version).toBe("v2");
    expect(((await (await proxy.get("cli-slow.example.com")).json()) as { version: string }).version).toBe("v2");
  }, 60_000);

  test.concurrent("an app that never becomes healthy fails after its health_timeout with the reason, and the old slot serves every request meanwhile", async () => {
    await using proxy = await startAppsProxy({
      apps: { "sick.example.com": { infos: defaultInfos("health_timeout = 2\n"), behaviour: { version: "v1" } } },
      timings: REAL_WAIT,
    });
    setBehaviour(join(proxy.sites, "sick.example.com"), { version: "v2", health: 503 });
    const port = proxy.handle.apps.get("sick.example.com").green.port;
    let running = true;
    const seen = new Map<string, number>();
    const client = async () => {
      // bounded: stops with the deploy, and never more than 5000 requests per client
      for (let i = 0; running && i < 5000; i++) {
        const res = await proxy.get("sick.example.com").catch(() => null);
        const key = res === null ? "transport error" : res.status === 200 ? `200 ${((await res.json()) as { version: string }).version}` : `${res.status}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
    };
    const clients = Array.from({ length: 4 }, client);
    const failed = await proxy.handle.apps.deploy("sick.example.com").catch((e: Error) => e.message);
    running = false;
    await Promise.all(clients);
    expect({ failed, answers: [...seen.keys()], slot: proxy.handle.apps.get("sick.example.com").current_slot }).toEqual({
      failed: `Deployment failed: sick.example.com slot green did not become healthy on http://127.0.0.1:${port}/health within 2s (last error: HTTP 503; see run/logs/sick.example.com/green.log)`,
      answers: ["200 v1"],
      slot: "blue",
    });
    expect(seen.get("200 v1")!).toBeGreaterThan(20);
  }, 30_000);

  test.concurrent("an unknown app, a busy app and an unknown phase filter are answers, not streams", async () => {
    await using proxy = await startAppsProxy({ admin: true, apps: { "busy.example.com": {} } });
    setBehaviour(join(proxy.sites, "busy.example.com"), { listenAfterMs: 1000 });
    const first = proxy.handle.apps.deploy("busy.example.com");
    const busy = await sseAction(proxy, "apps/busy.example.com/deploy");
    const missing = await sseAction(proxy, "apps/nope.example.com/deploy");
    const filter = await fetch(`http://127.0.0.1:${proxy.handle.admin!.port}/api/v1/events/apps?phase=health,booting`, { headers: { "x-api-key": API_KEY } });
    await first;
    expect([busy.status, busy.events[0]?.data, missing.status, missing.events[0]?.data, filter.status, await filter.json()]).toEqual([
      409,
      { ok: false, error: "Deployment already in progress for busy.example.com" },
      404,
      { ok: false, error: "App not found: nope.example.com" },
      400,
      { ok: false, error: "unknown phase: booting (phases: starting, health, switched, draining, done, failed)" },
    ]);
  });
});

describe("the CLI's live status line on a terminal (SPEC §16.1)", () => {
  test.concurrent("a deploy on a terminal shows one live line with attempt and elapsed time; Ctrl-C detaches and the deploy goes on", async () => {
    const { openTerminal } = await import("../support/tmux.ts");
    const { MAIN } = await import("../support/spawn.ts");
    await using proxy = await startAppsProxy({ apps: { "tty.example.com": { behaviour: { version: "v1" } } }, timings: REAL_WAIT });
    setBehaviour(join(proxy.sites, "tty.example.com"), { version: "v2", listenAfterMs: 5000 });
    await using term = await openTerminal({ columns: 160, rows: 20 });
    await term.run(`${process.execPath} ${MAIN} deploy tty.example.com -c ${proxy.project.conf} --sites-dir ${proxy.sites}; echo "exit=$?"`);
    const live = await term.waitFor(/waiting for health, attempt [2-9]/, "the live status line", 10_000);
    const statusLines = live.split("\n").filter((l) => l.includes("waiting for health"));
    await term.keys("C-c");
    const after = await term.waitFor(/exit=\d+/, "the CLI to exit", 10_000);
    await waitFor(() => proxy.handle.apps.get("tty.example.com").current_slot === "green", "the deploy to finish without its client", 15_000);
    expect({
      liveLines: statusLines.length,
      live: statusLines[0]?.trim(),
      detached: after.includes("Detached: the deploy of tty.example.com goes on in the proxy"),
      exit: /exit=(\d+)/.exec(after)?.[1],
      version: ((await (await proxy.get("tty.example.com")).json()) as { version: string }).version,
    }).toEqual({
      liveLines: 1,
      live: expect.stringMatching(/^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] tty\.example\.com: waiting for health, attempt \d+, [\d.]+s of 30s \(last error: connection refused\)$/),
      detached: true,
      exit: "0",
      version: "v2",
    });
  }, 40_000);
});
