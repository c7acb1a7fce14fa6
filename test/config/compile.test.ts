import { describe, expect, test } from "bun:test";
import { allRoutes, compile } from "../../src/config/compile.ts";
import { validateProxyConfText } from "../../src/config/load.ts";
import { defaultSettings } from "../../src/config/settings.ts";

const FILES = { conf: "/srv/proxy.conf", toml: "/srv/config.toml", dir: "/srv" };

function snapshotOf(text: string) {
  const { conf, issues } = validateProxyConfText(text, "proxy.conf");
  if (!conf) throw new Error(JSON.stringify(issues));
  return compile({ version: 1, dev: false, conf, settings: defaultSettings(), files: FILES, apps: [{ name: "shop", hosts: ["shop.test"], port: 4000 }] });
}

describe("the compiled snapshot", () => {
  test("the snapshot and its records refuse changes", () => {
    const snapshot = snapshotOf("a.test -> http://127.0.0.1:1\n/p/* -> http://127.0.0.1:2\ndefault -> http://127.0.0.1:4\n");
    expect([snapshot, snapshot.routes, snapshot.limits, snapshot.door, snapshot.websocket, snapshot.files].every((o) => Object.isFrozen(o))).toBe(true);
    expect(() => {
      (snapshot.routes as { fallback: unknown }).fallback = null;
    }).toThrow(TypeError);
    expect(() => {
      (snapshot as { version: number }).version = 2;
    }).toThrow(TypeError);
    expect(
      allRoutes(snapshot.routes)
        .map((r) => r.key)
        .sort(),
    ).toEqual(["/p/*", "a.test", "app:shop", "default"]);
  });

  test("its route lists stay ordinary arrays, which JavaScriptCore reads faster than frozen ones", () => {
    const snapshot = snapshotOf("/a/* -> http://127.0.0.1:1, http://127.0.0.1:2\n/b/* -> http://127.0.0.1:3\n");
    expect([Object.isFrozen(snapshot.routes.paths), Object.isFrozen(snapshot.routes.paths[0]!.targets)]).toEqual([false, false]);
  });
});
