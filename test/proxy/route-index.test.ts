import { describe, expect, test } from "bun:test";
import { compileRoutes } from "../../src/config/compile.ts";
import type { ProxyConf } from "../../src/config/model.ts";
import { proxyConfSchema } from "../../src/config/schema.ts";
import { parseProxyConf } from "../../src/config/syntax.ts";
import { matchRoute } from "../../src/proxy/route.ts";
import { fuzzRouteIndex } from "../support/route-index-fuzz.ts";

function table(text: string) {
  const conf = proxyConfSchema.parse(parseProxyConf(text).conf) as ProxyConf;
  return compileRoutes(conf.rules, [], conf.headers);
}

describe("route index", () => {
  test("a regex whose slash after the literal is optional still matches paths that only share the prefix, in a table large enough to be indexed", () => {
    const fillers = Array.from({ length: 10 }, (_, i) => `/f${i}/* -> http://127.0.0.1:${2000 + i}`).join("\n");
    const t = table(`~^/admin/?.*$ -> http://127.0.0.1:1000\n${fillers}\ndefault -> http://127.0.0.1:3000\n`);
    expect(t.bySegment.size).toBeGreaterThan(0);
    for (const path of ["/admin.php", "/administrator", "/admin", "/admin/x"]) {
      expect(matchRoute(t, "h", path)?.route.targets[0]?.port).toBe(1000);
    }
  });

  test("an exact rule also matches its path with one trailing slash, and not with more", () => {
    const t = table("/exact -> http://127.0.0.1:1000\ndefault -> http://127.0.0.1:3000\n");
    expect(matchRoute(t, "h", "/exact")?.route.targets[0]?.port).toBe(1000);
    expect(matchRoute(t, "h", "/exact/")?.route.targets[0]?.port).toBe(1000);
    expect(matchRoute(t, "h", "/exact/x")?.route.targets[0]?.port).toBe(3000);
    expect(matchRoute(t, "h", "/exactx")?.route.targets[0]?.port).toBe(3000);
  });

  test("the indexed matcher and the plain scan agree on thousands of generated tables and paths (seeded)", () => {
    const result = fuzzRouteIndex(20, 2000, 50);
    expect(result.indexedTables).toBeGreaterThan(500);
    expect(result.failures).toEqual([]);
  });
});
