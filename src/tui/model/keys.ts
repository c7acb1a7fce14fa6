/**
 * Keys of SPEC §16.5 → actions, the same on every screen. Screens get the letters this table
 * does not claim (`a`, `e`, `d`, `f`, `c`, …) as `{ type: "key" }`.
 */

/** The subset of Ink's `Key` this table reads. */
export interface KeyInfo {
  upArrow?: boolean;
  downArrow?: boolean;
  pageUp?: boolean;
  pageDown?: boolean;
  home?: boolean;
  end?: boolean;
  return?: boolean;
  escape?: boolean;
  ctrl?: boolean;
  shift?: boolean;
  tab?: boolean;
}

export type Move = "up" | "down" | "page-up" | "page-down" | "top" | "bottom";

export type Action =
  | { type: "screen"; index: number }
  | { type: "next-screen" }
  | { type: "prev-screen" }
  | { type: "quit" }
  | { type: "refresh" }
  | { type: "search" }
  | { type: "help" }
  | { type: "close" }
  | { type: "enter" }
  | { type: "move"; move: Move }
  | { type: "key"; key: string };

export const SCREEN_COUNT = 7;

export function keyAction(input: string, key: KeyInfo): Action | null {
  if (key.tab) return key.shift ? { type: "prev-screen" } : { type: "next-screen" };
  if (key.ctrl && input === "c") return { type: "quit" };
  if (key.escape) return { type: "close" };
  if (key.return) return { type: "enter" };
  if (key.upArrow) return { type: "move", move: "up" };
  if (key.downArrow) return { type: "move", move: "down" };
  if (key.pageUp) return { type: "move", move: "page-up" };
  if (key.pageDown) return { type: "move", move: "page-down" };
  if (key.home) return { type: "move", move: "top" };
  if (key.end) return { type: "move", move: "bottom" };
  if (key.ctrl) return null;
  switch (input) {
    case "q":
      return { type: "quit" };
    case "r":
      return { type: "refresh" };
    case "/":
      return { type: "search" };
    case "?":
      return { type: "help" };
    case "j":
      return { type: "move", move: "down" };
    case "k":
      return { type: "move", move: "up" };
    case "g":
      return { type: "move", move: "top" };
    case "G":
      return { type: "move", move: "bottom" };
  }
  if (/^[1-9]$/.test(input) && Number(input) <= SCREEN_COUNT) return { type: "screen", index: Number(input) - 1 };
  if (input.length === 1 && input >= " ") return { type: "key", key: input };
  return null;
}

/** Tab order wraps around: after Help comes Dashboard. */
export function cycleScreen(index: number, step: 1 | -1): number {
  return (index + step + SCREEN_COUNT) % SCREEN_COUNT;
}
