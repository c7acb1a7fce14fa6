/**
 * Rules of the request path that hold by themselves (issue 19 items 1 and 2): it reads the compiled
 * snapshot only, never a config.toml key; it loads no config/ module at run time but the
 * snapshot's types (compile.ts stays out of it); and proxy/ never calls up into server/.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const SRC = join(import.meta.dir, "../../src");

function filesUnder(dir: string): string[] {
  return readdirSync(join(SRC, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts"))
    .map((f) => join(dir, f));
}

const REQUEST_PATH = [...filesUnder("proxy"), ...filesUnder("upstream"), "server/http.ts", "server/ws.ts"];
const source = (file: string) => readFileSync(join(SRC, file), "utf8");
/** Import lines, without the `import type` ones (erased at run time). */
const runtimeImports = (text: string) => text.split("\n").filter((l) => /^import\s/.test(l) && !/^import type\s/.test(l));

describe("the request path's layering", () => {
  test("no file of the request path reads settings (config.toml as written) from the snapshot", () => {
    const readers = REQUEST_PATH.filter((f) => /\bsettings\.[a-z_]+/.test(source(f).replace(/^\s*(\/\/|\*).*$/gm, "")));
    expect(readers).toEqual([]);
  });

  test("at run time the request path imports from config/ only snapshot.ts (its HeaderVar enum), and route.ts nothing", () => {
    const offenders = REQUEST_PATH.flatMap((f) =>
      runtimeImports(source(f))
        .filter((l) => l.includes("/config/") && (f === "proxy/route.ts" || !l.includes("/config/snapshot.ts")))
        .map((l) => `${f}: ${l}`),
    );
    expect(offenders).toEqual([]);
  });

  test("proxy/ never imports from server/", () => {
    const offenders = filesUnder("proxy").flatMap((f) =>
      source(f)
        .split("\n")
        .filter((l) => /^import\s/.test(l) && l.includes("/server/"))
        .map((l) => `${f}: ${l}`),
    );
    expect(offenders).toEqual([]);
  });

  test("the files it checks exist (the lists above are not empty)", () => {
    expect([REQUEST_PATH.includes("proxy/handle.ts"), REQUEST_PATH.includes("proxy/flight.ts"), REQUEST_PATH.includes("upstream/exchange.ts")]).toEqual([
      true,
      true,
      true,
    ]);
  });
});
