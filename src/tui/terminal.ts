/**
 * The terminal must come back usable however the TUI ends (SPEC §16.5): q, a signal, an uncaught
 * error. Ink restores the screen when it unmounts (alternate screen off, cursor shown, raw mode
 * off); this guard sends every other way out through that unmount, and repairs the terminal
 * itself when the unmount fails.
 */

const SIGNALS: readonly NodeJS.Signals[] = ["SIGTERM", "SIGHUP", "SIGINT", "SIGQUIT"];

/**
 * Calls `end()` on a signal (a normal end) and `end(error)` on an uncaught error or rejection.
 * Returns the function that removes the handlers.
 */
export function guardTerminal(end: (error?: Error) => void): () => void {
  const onSignal = () => end();
  const onError = (err: unknown) => end(err instanceof Error ? err : new Error(String(err)));
  for (const signal of SIGNALS) process.on(signal, onSignal);
  process.on("uncaughtException", onError);
  process.on("unhandledRejection", onError);
  return () => {
    for (const signal of SIGNALS) process.off(signal, onSignal);
    process.off("uncaughtException", onError);
    process.off("unhandledRejection", onError);
  };
}

/** Cooked input and a visible cursor: harmless to repeat after Ink's own clean-up. */
export function restoreInput(): void {
  try {
    if (process.stdin.isTTY) process.stdin.setRawMode(false);
  } catch {}
  try {
    process.stdout.write("\x1b[?25h");
  } catch {}
}

/** When Ink could not clean up: default colours, the main screen, cooked input, a visible cursor. */
export function forceRestoreTerminal(): void {
  try {
    process.stdout.write("\x1b[0m\x1b[?1049l");
  } catch {}
  restoreInput();
}
