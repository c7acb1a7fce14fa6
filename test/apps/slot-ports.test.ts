import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PortsLock } from "../../src/apps/slot-ports.ts";
import { readAppState, writeAppState } from "../../src/apps/state-files.ts";
import { freePortBlock } from "../support/apps.ts";
import { tempProject } from "../support/project.ts";

describe("run/ports.lock (SPEC §14.6)", () => {
  test("allocation takes the first port not in the file and not in use; an (app, slot) keeps its port", () => {
    using project = tempProject();
    const base = freePortBlock(4);
    const taken = Bun.listen({ hostname: "127.0.0.1", port: base, socket: { data() {} } });
    const file = join(project.dir, "run", "ports.lock");
    try {
      const lock = new PortsLock(file);
      lock.load();
      const blue = lock.allocate("a.example.com", "blue", [base, base + 3]);
      const green = lock.allocate("a.example.com", "green", [base, base + 3]);
      const other = lock.allocate("b.example.com", "blue", [base, base + 3]);
      const again = lock.allocate("a.example.com", "blue", [base, base + 3]);
      lock.save();
      const reread = new PortsLock(file);
      reread.load();
      expect([blue, green, other, again, reread.portOf("a.example.com", "green")]).toEqual([base + 1, base + 2, base + 3, base + 1, base + 2]);
      const text = JSON.parse(readFileSync(file, "utf8"));
      expect(Object.keys(text)).toEqual([String(base + 1), String(base + 2), String(base + 3)]);
      expect(text[String(base + 1)]).toEqual({
        app_name: "a.example.com",
        slot: "blue",
        port: base + 1,
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      });
      expect(() => lock.allocate("c.example.com", "blue", [base, base + 3])).toThrow(`No available ports found in range ${base}-${base + 3}`);
      expect([lock.release("a.example.com"), lock.portOf("a.example.com", "blue")]).toEqual([[base + 1, base + 2], null]);
    } finally {
      taken.stop(true);
    }
  });

  test("an unreadable ports.lock is reported and treated as empty", () => {
    using project = tempProject({ "run/ports.lock": "{not json" });
    const lock = new PortsLock(join(project.dir, "run", "ports.lock"));
    expect([lock.load()?.includes("is not valid JSON"), lock.portOf("x", "blue")]).toEqual([true, null]);
  });
});

describe("run/app_state.json (SPEC §14.6)", () => {
  test("is written atomically and read back; malformed entries are left out", () => {
    using project = tempProject();
    const file = join(project.dir, "run", "app_state.json");
    const state = {
      "a.example.com": {
        current_slot: "green" as const,
        stopped: false,
        blue: { port: 1, pid: null, status: "Stopped" as const },
        green: { port: 2, pid: 42, status: "Running" as const },
      },
    };
    writeAppState(file, state);
    const back = readAppState(file);
    writeFileSync(file, JSON.stringify({ ...state, broken: { current_slot: "purple" } }));
    expect([back, Object.keys(readAppState(file)), readAppState(join(project.dir, "missing.json"))]).toEqual([state, ["a.example.com"], {}]);
  });
});
