import { describe, expect, test } from "bun:test";
import { compileRoutes } from "../../src/config/compile.ts";
import { pickTarget, type Picked } from "../../src/proxy/pick.ts";
import type { Route } from "../../src/config/snapshot.ts";
import type { LbStrategy } from "../../src/config/model.ts";

function route(targets: [string, number][], strategy: LbStrategy): Route {
  const table = compileRoutes(
    [
      {
        matcher: { type: "default" },
        targets: targets.map(([url, weight]) => ({ url, weight })),
        load_balancing: strategy,
        auth: [],
        headers: [],
        options: null,
      } as never,
    ],
    [],
  );
  return table.fallback!;
}
const names = (r: Route, picks: (Picked | null)[]) => picks.map((p) => (p === null ? "-" : new URL(r.targets[p.index]!.url).hostname)).join("");
const run = (r: Route, n: number, down: Set<string> = new Set(), skip = -1) =>
  names(
    r,
    Array.from({ length: n }, (_, k) => pickTarget(r, k, (t) => (down.has(new URL(t.url).hostname) ? -1 : 0), skip)),
  );

describe("target selection (SPEC §6.1)", () => {
  test("round-robin scans forward past unavailable targets", () => {
    const r = route(
      [
        ["http://a/", 100],
        ["http://b/", 100],
        ["http://c/", 100],
      ],
      "round-robin",
    );
    // b's turns go to the next target in order, c
    expect([run(r, 6), run(r, 6, new Set(["b"])), run(r, 3, new Set(["a", "b", "c"]))]).toEqual(["abcabc", "accacc", "---"]);
  });

  test("weighted 7:3 interleaves and moves to the next position when a target is down", () => {
    const r = route(
      [
        ["http://a/", 70],
        ["http://b/", 30],
      ],
      "weighted",
    );
    expect([run(r, 10), run(r, 5, new Set(["a"])), run(r, 5, new Set(["b"]))]).toEqual(["abaabaabaa", "bbbbb", "aaaaa"]);
  });

  test("weight 0 drains: used only when every positive-weight target is unavailable", () => {
    const r = route(
      [
        ["http://a/", 100],
        ["http://d/", 0],
        ["http://b/", 100],
      ],
      "weighted",
    );
    expect([run(r, 4), run(r, 2, new Set(["a"])), run(r, 2, new Set(["a", "b"])), run(r, 1, new Set(["a", "b", "d"]))]).toEqual(["abab", "bb", "dd", "-"]);
  });

  test("failover takes the first available target in rule order", () => {
    const r = route(
      [
        ["http://a/", 100],
        ["http://b/", 100],
        ["http://c/", 100],
      ],
      "failover",
    );
    expect([run(r, 3), run(r, 2, new Set(["a"])), run(r, 1, new Set(["a", "b"]))]).toEqual(["aaa", "bb", "c"]);
  });

  test("a retry skips the target that failed and takes the next available one", () => {
    const rr = route(
      [
        ["http://a/", 100],
        ["http://b/", 100],
        ["http://c/", 100],
      ],
      "round-robin",
    );
    const one = route([["http://a/", 100]], "round-robin");
    expect([
      names(rr, [pickTarget(rr, 0, () => 0, 0)]),
      names(rr, [pickTarget(rr, 1, (t) => (t.url.includes("c") ? -1 : 0), 1)]),
      names(one, [pickTarget(one, 0, () => 0, 0)]),
    ]).toEqual(["b", "a", "-"]);
  });

  test("a pick carries the breaker's ticket of the target it chose", () => {
    const r = route(
      [
        ["http://a/", 100],
        ["http://b/", 100],
      ],
      "failover",
    );
    const tickets: Record<string, number> = { a: -1, b: 7 };
    expect(pickTarget(r, 0, (t) => tickets[new URL(t.url).hostname]!)).toEqual({ index: 1, ticket: 7 });
  });
});
