/**
 * Cursor and scrolling for lists and text views. A list has a cursor kept inside the visible
 * window; a text view scrolls without one. `visible` is how many entries fit on screen.
 */
import type { Move } from "./keys.ts";

export interface ListState {
  cursor: number;
  /** Index of the first visible entry. */
  offset: number;
}

export const TOP: ListState = { cursor: 0, offset: 0 };

export function moveList(state: ListState, move: Move, length: number, visible: number): ListState {
  const page = Math.max(1, visible);
  const target = {
    up: state.cursor - 1,
    down: state.cursor + 1,
    "page-up": state.cursor - page,
    "page-down": state.cursor + page,
    top: 0,
    bottom: length - 1,
  }[move];
  return clampList({ cursor: target, offset: state.offset }, length, visible);
}

/** The state made valid for a list of `length` with `visible` rows: cursor inside both. */
export function clampList(state: ListState, length: number, visible: number): ListState {
  if (length <= 0) return TOP;
  const page = Math.max(1, visible);
  const cursor = Math.min(Math.max(0, state.cursor), length - 1);
  let offset = Math.min(state.offset, Math.max(0, length - page));
  if (cursor < offset) offset = cursor;
  if (cursor >= offset + page) offset = cursor - page + 1;
  return { cursor, offset: Math.max(0, offset) };
}

/** A text view's first line after `move`. */
export function scrollView(offset: number, move: Move, length: number, visible: number): number {
  const page = Math.max(1, visible);
  const last = Math.max(0, length - page);
  const target = {
    up: offset - 1,
    down: offset + 1,
    "page-up": offset - page,
    "page-down": offset + page,
    top: 0,
    bottom: last,
  }[move];
  return Math.min(Math.max(0, target), last);
}

/** The last page of a text view of `length` lines (a followed log). */
export function bottomOffset(length: number, visible: number): number {
  return Math.max(0, length - Math.max(1, visible));
}
