import { describe, expect, test } from "bun:test";
import { cycleScreen, keyAction } from "../../src/tui/model/keys.ts";
import { bottomOffset, clampList, moveList, scrollView } from "../../src/tui/model/list.ts";

describe("keys everywhere (SPEC §16.5)", () => {
  test("map to the same actions on every screen", () => {
    const keys: [string, object][] = [
      ["1", {}],
      ["7", {}],
      ["8", {}],
      ["", { tab: true }],
      ["", { tab: true, shift: true }],
      ["q", {}],
      ["c", { ctrl: true }],
      ["r", {}],
      ["/", {}],
      ["?", {}],
      ["", { escape: true }],
      ["", { return: true }],
      ["j", {}],
      ["", { downArrow: true }],
      ["k", {}],
      ["", { upArrow: true }],
      ["", { pageDown: true }],
      ["", { pageUp: true }],
      ["g", {}],
      ["G", {}],
      ["a", {}],
      ["x", { ctrl: true }],
      ["jj", {}],
    ];
    expect(keys.map(([input, key]) => keyAction(input, key))).toEqual([
      { type: "screen", index: 0 },
      { type: "screen", index: 6 },
      { type: "key", key: "8" },
      { type: "next-screen" },
      { type: "prev-screen" },
      { type: "quit" },
      { type: "quit" },
      { type: "refresh" },
      { type: "search" },
      { type: "help" },
      { type: "close" },
      { type: "enter" },
      { type: "move", move: "down" },
      { type: "move", move: "down" },
      { type: "move", move: "up" },
      { type: "move", move: "up" },
      { type: "move", move: "page-down" },
      { type: "move", move: "page-up" },
      { type: "move", move: "top" },
      { type: "move", move: "bottom" },
      { type: "key", key: "a" },
      null,
      null,
    ]);
  });

  test("Tab order wraps around both ways", () => {
    expect([cycleScreen(6, 1), cycleScreen(0, -1), cycleScreen(2, 1)]).toEqual([0, 6, 3]);
  });
});

describe("lists and text views scroll within the screen", () => {
  test("the cursor stays inside the list and the window follows it", () => {
    let s = { cursor: 0, offset: 0 };
    const seen: [number, number][] = [];
    for (const move of ["down", "down", "down", "down", "page-down", "bottom", "up", "page-up", "top", "up"] as const) {
      s = moveList(s, move, 10, 3);
      seen.push([s.cursor, s.offset]);
    }
    expect(seen).toEqual([
      [1, 0],
      [2, 0],
      [3, 1],
      [4, 2],
      [7, 5],
      [9, 7],
      [8, 7],
      [5, 5],
      [0, 0],
      [0, 0],
    ]);
  });

  test("a list that shrank or a window that grew keeps a valid cursor", () => {
    expect([clampList({ cursor: 9, offset: 7 }, 4, 3), clampList({ cursor: 9, offset: 7 }, 10, 20), clampList({ cursor: 3, offset: 1 }, 0, 3)]).toEqual([
      { cursor: 3, offset: 1 },
      { cursor: 9, offset: 0 },
      { cursor: 0, offset: 0 },
    ]);
  });

  test("a text view scrolls by lines and pages, never past its last page", () => {
    expect([
      scrollView(0, "down", 10, 4),
      scrollView(5, "page-down", 10, 4),
      scrollView(6, "bottom", 10, 4),
      scrollView(2, "page-up", 10, 4),
      scrollView(0, "down", 3, 4),
      bottomOffset(10, 4),
    ]).toEqual([1, 6, 6, 0, 0, 6]);
  });
});
