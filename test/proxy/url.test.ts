import { describe, expect, test } from "bun:test";
import { compileRoutes } from "../../src/config/compile.ts";
import type { ProxyConf } from "../../src/config/model.ts";
import { parseProxyConf } from "../../src/config/syntax.ts";
import { proxyConfSchema } from "../../src/config/schema.ts";
import { matchRoute } from "../../src/proxy/route.ts";
import { joinPath, upstreamTarget } from "../../src/proxy/url.ts";
import { hostFromAuthority } from "../../src/lib/net.ts";

function table(text: string) {
  const conf = proxyConfSchema.parse(parseProxyConf(text).conf) as ProxyConf;
  return compileRoutes(conf.rules, [], conf.headers);
}

/** Routes `host` + `target` (path?query) and returns the rule and upstream request target. */
function resolve(text: string, host: string, target: string): [string, string] | null {
  const t = table(text);
  const q = target.indexOf("?");
  const path = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? "" : target.slice(q + 1);
  // The door lower-cases and unbrackets the Host before routing, as a request would.
  const m = matchRoute(t, hostFromAuthority(host.includes(":") && !host.startsWith("[") ? `[${host}]` : host) ?? "", path);
  if (!m) return null;
  return [m.route.key, upstreamTarget(m.route, m.route.targets[0]!, { path, query, groups: m.groups })];
}

describe("URL resolution (SPEC §5.4)", () => {
  test("join puts exactly one slash between base and rest, and an empty rest keeps the base", () => {
    expect([
      joinPath("/", "/a"),
      joinPath("/base", "/a"),
      joinPath("/base/", "a"),
      joinPath("/base", "a"),
      joinPath("/base/", "/a"),
      joinPath("/b", ""),
    ]).toEqual(["/a", "/base/a", "/base/a", "/base/a", "/base/a", "/b"]);
  });

  const cases: [string, string, string, [string, string] | null][] = [
    // [proxy.conf, host, request target, expected [rule, upstream target]]
    ["default -> http://a:1", "x.test", "/p/q?z=1", ["default", "/p/q?z=1"]],
    ["default -> http://a:1/base?t=1", "x.test", "/p?z=1", ["default", "/base/p?t=1&z=1"]],
    ["/api/* -> http://a:1", "x", "/api/x/y?q", ["/api/*", "/x/y?q"]],
    ["/api/* -> http://a:1", "x", "/api", ["/api/*", "/"]],
    ["/api/* -> http://a:1/v1", "x", "/api/", ["/api/*", "/v1"]],
    ["/api/* -> http://a:1/v1/", "x", "/api/users", ["/api/*", "/v1/users"]],
    ["/api/* -> http://a:1", "x", "/apix", null],
    ["/exact -> http://a:1/target?fixed=1", "x", "/exact?client=2", ["/exact", "/target?fixed=1&client=2"]],
    ["/exact -> http://a:1", "x", "/exact/more", null],
    ["~^/users/(\\d+)$ -> http://a:1/u/$1/profile", "x", "/users/42?full=1", ["~^/users/(\\d+)$", "/u/42/profile?full=1"]],
    ["~^/u/(?P<id>\\d+)(/x)?$ -> http://a:1/p/${id}?g=$2&cost=$$3", "x", "/u/7", ["~^/u/(?P<id>\\d+)(/x)?$", "/p/7?g=&cost=$3"]],
    ["~^/q$ -> http://a:1/r?a=1", "x", "/q?b=2", ["~^/q$", "/r?a=1&b=2"]],
    ["~^/cost$ -> http://a:1/c?price=$$5", "x", "/cost", ["~^/cost$", "/c?price=$5"]],
    ["shop.test -> http://a:1/base", "SHOP.test", "/cart", ["shop.test", "/base/cart"]],
    ["shop.test/admin/* -> http://a:1", "shop.test", "/admin/users?x", ["shop.test/admin/*", "/users?x"]],
    ["[::1] -> http://a:1", "::1", "/v6", ["[::1]", "/v6"]],
  ];
  for (const [conf, host, target, expected] of cases) {
    test(`${conf.split(" ->")[0]} resolves ${host}${target} to ${expected ? expected[1] : "no rule"}`, () => {
      expect(resolve(conf, host, target)).toEqual(expected);
    });
  }
});

describe("routing precedence (SPEC §5.3)", () => {
  const conf = [
    "default -> http://d:1",
    "/p/* -> http://prefix:1",
    "~^/p/special$ -> http://regex:1",
    "/p/exact -> http://exact:1",
    "site.test -> http://domain:1",
    "site.test/api/* -> http://mount:1",
    "other.test -> http://first:1",
    "other.test -> http://second:1",
  ].join("\n");
  const t = table(conf);
  const who = (host: string, path: string) => matchRoute(t, host, path)?.route.targets[0]?.hostname;

  test("a domain+path rule beats its domain rule, which shadows path rules for that host", () => {
    expect([who("site.test", "/api/x"), who("site.test", "/api"), who("site.test", "/p/exact"), who("site.test", "/other")]).toEqual([
      "mount",
      "mount",
      "domain",
      "domain",
    ]);
  });

  test("path rules match in file order as one list, before the default", () => {
    expect([who("x.test", "/p/exact"), who("x.test", "/p/special"), who("x.test", "/q")]).toEqual(["prefix", "prefix", "d"]);
  });

  test("the first domain rule for a host wins", () => {
    expect(who("other.test", "/")).toBe("first");
  });

  test("an exact rule earlier than a matching prefix rule wins", () => {
    const t2 = table("/a/b -> http://exact:1\n/a/* -> http://prefix:1\n~^/a -> http://regex:1");
    expect([matchRoute(t2, "h", "/a/b")?.route.targets[0]?.hostname, matchRoute(t2, "h", "/a/c")?.route.targets[0]?.hostname]).toEqual(["exact", "prefix"]);
  });

  test("without a default rule an unmatched request has no route", () => {
    expect(matchRoute(table("/a -> http://a:1"), "h", "/b")).toBeNull();
  });

  test("apps come after domain+path rules and before domain rules", () => {
    const conf2 = proxyConfSchema.parse(parseProxyConf("app.test -> http://rule:1\napp.test/x/* -> http://mount:1").conf) as ProxyConf;
    const t2 = compileRoutes(conf2.rules, [{ name: "app.test", hosts: ["app.test", "www.app.test"], port: 20001 }]);
    expect([matchRoute(t2, "app.test", "/")?.route.key, matchRoute(t2, "www.app.test", "/")?.route.key, matchRoute(t2, "app.test", "/x/1")?.route.key]).toEqual(
      ["app:app.test", "app:app.test", "app.test/x/*"],
    );
  });
});

/**
 * Small tables are scanned whole; these rules, which never match the paths below, make a table
 * large enough to be indexed by first segment.
 */
const PADDING = Array.from({ length: 10 }, (_, i) => `/padding${i}/x -> http://padding:1`);

function indexed(rules: string[]) {
  const t = table([...rules, ...PADDING].join("\n"));
  expect(t.bySegment.size).toBeGreaterThan(0);
  return t;
}

describe("path rule index", () => {
  test("rules are tried only for their first segment, still in file order", () => {
    const t = indexed([
      "~^/a/x$ -> http://regex-a:1",
      "/a/* -> http://prefix-a:1",
      "/b/exact -> http://exact-b:1",
      "~/anywhere$ -> http://unanchored:1",
      "/* -> http://everything:1",
      "~^/u.ers/(\\d+)$ -> http://dot:1",
      "~^/c/|^/d/ -> http://alt:1",
    ]);
    const who = (path: string) => matchRoute(t, "h", path)?.route.targets[0]?.hostname;
    expect([who("/a/x"), who("/a/y"), who("/a"), who("/b/exact"), who("/b/anywhere"), who("/q"), who("/users/1"), who("/d/")]).toEqual([
      "regex-a",
      "prefix-a",
      "prefix-a",
      "exact-b",
      "unanchored",
      "everything",
      "everything",
      "everything",
    ]);
  });

  test("a rule after a catch-all never wins, as in file order", () => {
    const t = indexed(["/* -> http://first:1", "/a/* -> http://second:1", "~^/zz/|^/a/ -> http://third:1"]);
    expect(matchRoute(t, "h", "/a/b")?.route.targets[0]?.hostname).toBe("first");
  });

  test("regexes on a literal first segment are indexed; dots and alternations are not", async () => {
    const { firstSegmentOf } = await import("../../src/config/compile.ts");
    const t = table(
      ["~^/users/(\\d+)$ -> http://a:1", "~^/u.ers/x -> http://a:1", "~^/a\\.b/x -> http://a:1", "~^/c/|^/d/ -> http://a:1", "~^/files -> http://a:1"].join(
        "\n",
      ),
    );
    expect(t.paths.map(firstSegmentOf)).toEqual(["users", null, "a.b", null, null]);
  });

  test("a small table is scanned whole and routes as the indexed one does", () => {
    const rules = ["/a/exact -> http://exact:1", "~^/a/(\\d+)$ -> http://digits:1/n/$1", "/a/* -> http://prefix:1", "~^/b -> http://b:1", "/ -> http://root:1"];
    const small = table(rules.join("\n"));
    const large = indexed(rules);
    expect(small.bySegment.size).toBe(0);
    const paths = ["/a/exact", "/a/7", "/a/x", "/a", "/bq", "/", "/c"];
    const who = (t: ReturnType<typeof table>) => paths.map((p) => matchRoute(t, "h", p)?.route.targets[0]?.hostname ?? null);
    expect(who(small)).toEqual(["exact", "digits", "prefix", "prefix", "b", "root", null]);
    expect(who(large)).toEqual(who(small));
  });

  test("two first segments with one hash share a bucket and each still routes to its own rule", async () => {
    const { segmentHash } = await import("../../src/lib/segment-hash.ts");
    expect(segmentHash("7yzx", 0)).toBe(segmentHash("e6ad", 0));
    const t = indexed(["/7yzx/* -> http://first:1", "/e6ad/* -> http://second:1"]);
    const who = (path: string) => matchRoute(t, "h", path)?.route.targets[0]?.hostname ?? null;
    expect([who("/7yzx/a"), who("/e6ad/a"), who("/7yzy/a")]).toEqual(["first", "second", null]);
  });

  test("a regex rule captures groups only when a target refers to them", () => {
    const t = indexed(["~^/plain/.*$ -> http://plain:1/fixed", "~^/ref/(\\w+)$ -> http://ref:1/to/$1"]);
    const plain = matchRoute(t, "h", "/plain/x")!;
    const ref = matchRoute(t, "h", "/ref/abc")!;
    expect([plain.route.captures, plain.groups, ref.route.captures, ref.groups?.[1]]).toEqual([false, null, true, "abc"]);
    expect(upstreamTarget(ref.route, ref.route.targets[0]!, { path: "/ref/abc", query: "", groups: ref.groups })).toBe("/to/abc");
  });
});
