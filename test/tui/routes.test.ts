import { describe, expect, test } from "bun:test";
import type { Rule } from "../../src/config/model.ts";
import { parseRouteLine, routeMatches, routeRows } from "../../src/tui/model/routes.ts";

const stored: Rule = {
  matcher: { type: "prefix", value: "/api/" },
  targets: [
    { url: "http://a:1/", weight: 100 },
    { url: "http://b:2/", weight: 5 },
  ],
  load_balancing: "weighted",
  auth: [{ username: "joe", hash: "" }],
  headers: [{ name: "X-Env", value: "prod" }],
  options: { auth: "basic", realm: "Team" },
};

describe("the Routes screen's rules (SPEC §11.3) and typed lines (SPEC §3)", () => {
  test("a rule is a row with its source, targets, strategy, users and one-line form", () => {
    expect(routeRows([stored])).toEqual([
      {
        index: 0,
        source: "/api/*",
        targets: "http://a:1/, weight:5 http://b:2/",
        lb: "weighted",
        auth: "joe (basic)",
        line: "/api/* -> http://a:1/, weight:5 http://b:2/ @auth:joe:",
      },
    ]);
  });

  test("a typed line becomes the Rule JSON the routes API takes", () => {
    expect(parseRouteLine("  shop.example.com -> http://127.0.0.1:7000, http://127.0.0.1:7001 @lb:failover ")).toEqual({
      ok: true,
      rule: {
        matcher: { type: "domain", value: "shop.example.com" },
        targets: [
          { url: "http://127.0.0.1:7000", weight: 100 },
          { url: "http://127.0.0.1:7001", weight: 100 },
        ],
        load_balancing: "failover",
        auth: [],
        headers: [],
        options: null,
      },
    });
  });

  test("an edited line keeps the headers and options one line cannot carry, and the empty hash that keeps the stored one", () => {
    const edited = parseRouteLine("/api/* -> http://a:1/ @auth:joe:", stored);
    expect(edited.ok && { headers: edited.rule.headers, options: edited.rule.options, auth: edited.rule.auth, targets: edited.rule.targets }).toEqual({
      headers: [{ name: "X-Env", value: "prod" }],
      options: { auth: "basic", realm: "Team" },
      auth: [{ username: "joe", hash: "" }],
      targets: [{ url: "http://a:1/", weight: 100 }],
    });
  });

  test("what is not one rule is refused with the reason", () => {
    expect(
      ["", "just words", "headers {", "/x -> http://a:1\n/y -> http://b:2", "/x -> weight:x http://a:1", "/x -> ftp://a", "/x -> http://a:1 @auth:joe:abc"].map(
        (l) => parseRouteLine(l),
      ),
    ).toEqual([
      { ok: false, error: "type a rule: SOURCE -> TARGETS" },
      { ok: false, error: "col 1: not a rule (SOURCE -> TARGETS), a block line, a comment or blank" },
      { ok: false, error: "blocks cannot be typed here; edit proxy.conf for headers { } and option blocks" },
      { ok: false, error: "not a rule: type SOURCE -> TARGETS" },
      { ok: false, error: "col 7: weight must be an integer from 0 to 255" },
      { ok: false, error: "col 7: unsupported scheme 'ftp:' in 'ftp://a' (use http, https, ws, wss or redirect)" },
      { ok: false, error: expect.stringMatching(/^col 28: bad @auth hash for user 'joe'/) },
    ]);
  });

  test("search looks at source, targets, strategy and users, ignoring case", () => {
    const [row] = routeRows([stored]);
    expect(["API", "b:2", "JOE", "weighted", "", "nope"].map((q) => routeMatches(row!, q))).toEqual([true, true, true, true, true, false]);
  });
});
