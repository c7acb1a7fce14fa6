import { describe, expect, test } from "bun:test";
import type { AppInfo } from "../../src/tui/data/api-types.ts";
import { appRequestCounters, appRows, logLines } from "../../src/tui/model/apps.ts";

const info: AppInfo = {
  config: { name: "shop.test", domain: "shop.test" },
  path: "/srv/sites/shop.test",
  current_slot: "green",
  blue: { name: "shop.test", slot: "blue", port: 20000, pid: null, status: "Stopped", last_started: null },
  green: { name: "shop.test", slot: "green", port: 20001, pid: 4242, status: "Running", last_started: "2025-01-01T00:00:00Z" },
};
const noFiles = { state: {}, ports: [], sites: [] };

describe("the Apps screen's rows (SPEC §11.4, §14.6, §16.5)", () => {
  test("the proxy's view: both slots with CPU/RSS, the current slot's status, req/s and its history", () => {
    const traffic = new Map([
      [
        "shop.test",
        [
          { at: 0, value: 0 },
          { at: 1000, value: 4 },
          { at: 2000, value: 10 },
        ],
      ],
    ]);
    const [row] = appRows({ apps: [info], system: { "shop.test": { green: { memory_rss_bytes: 1024, cpu_percent: 2.5 } } }, traffic, files: noFiles });
    expect(row).toEqual({
      name: "shop.test",
      domain: "shop.test",
      currentSlot: "green",
      status: "Running",
      slots: {
        blue: { slot: "blue", port: 20000, pid: null, status: "Stopped", cpuPercent: null, rssBytes: null, lastStarted: null },
        green: { slot: "green", port: 20001, pid: 4242, status: "Running", cpuPercent: 2.5, rssBytes: 1024, lastStarted: "2025-01-01T00:00:00Z" },
      },
      reqPerSec: 6,
      history: [4, 6],
      source: "proxy",
    });
  });

  test("without a proxy: app_state.json, ports.lock and the sites directory, stopped apps shown as Stopped", () => {
    const files = {
      state: {
        "a.test": {
          current_slot: "green" as const,
          stopped: false,
          blue: { port: 1, pid: null, status: "Stopped" as const },
          green: { port: 2, pid: 9, status: "Running" as const },
        },
        "b.test": {
          current_slot: "blue" as const,
          stopped: true,
          blue: { port: 3, pid: null, status: "Stopped" as const },
          green: { port: 0, pid: null, status: "Stopped" as const },
        },
      },
      ports: [{ app_name: "b.test", slot: "green" as const, port: 4 }],
      sites: ["a.test", "c.test"],
    };
    const rows = appRows({ apps: null, system: null, traffic: new Map(), files });
    expect(rows.map((r) => [r.name, r.status, r.currentSlot, r.slots.blue.port, r.slots.green.port, r.slots.green.pid, r.reqPerSec, r.source])).toEqual([
      ["a.test", "Running", "green", 1, 2, 9, null, "files"],
      ["b.test", "Stopped", "blue", 3, 4, null, null, "files"],
      ["c.test", "Stopped", "blue", null, null, null, null, "files"],
    ]);
  });

  test("request counters come from app-metrics; the log viewer shows both slots under headings", () => {
    expect({
      counters: [...appRequestCounters({ "a.test": { requests: 5 } as never, bad: {} as never })],
      none: [...appRequestCounters(null)],
      logs: logLines("a.test", { blue: "one\ntwo\n", green: "" }),
    }).toEqual({
      counters: [["a.test", 5]],
      none: [],
      logs: ["=== a.test (blue) ===", "one", "two", "=== a.test (green) ==="],
    });
  });
});

describe("the phase of a running deploy on the Apps screen (SPEC §14.7, §16.5)", () => {
  test("each app shows its newest progress phase until the deploy is done or failed", async () => {
    const { runningPhases } = await import("../../src/tui/model/apps.ts");
    const at = (event: import("../../src/tui/data/api-types.ts").AppEvent) => ({ at: 0, event });
    const events = [
      at({ type: "Progress", app_name: "a", phase: "starting", slot: "green", port: 20001 }),
      at({ type: "Progress", app_name: "b", phase: "starting", slot: "blue", port: 20010 }),
      at({ type: "Progress", app_name: "a", phase: "health", attempt: 3, elapsed_secs: 2.1, timeout_secs: 30, last_error: "connection refused" }),
      at({ type: "StatusChanged", app_name: "a", slot: "green", status: "starting" }),
      at({ type: "Progress", app_name: "b", phase: "done", slot: "blue", elapsed_secs: 4 }),
      at({ type: "Progress", app_name: "c", phase: "draining", seconds: 5 }),
    ];
    expect(runningPhases(events)).toEqual({ a: "health check 3, 2.1s of 30s (connection refused)", c: "draining the old slot 5s" });
  });
});
