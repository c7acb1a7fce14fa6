/**
 * What this process was started as: the compiled single executable (`bun build --compile`) or
 * `bun src/main.ts`. Self-update needs the former; the daemon re-runs whichever it is.
 */

/** True inside an executable made by `bun build --compile` (its modules live in Bun's embedded /$bunfs). */
export function isCompiled(): boolean {
  return Bun.main.startsWith("/$bunfs/") || Bun.main.startsWith("B:/~BUN/");
}

/** The argv that starts this program again with `args`: the executable, plus the script when run from source. */
export function selfCommand(args: readonly string[]): string[] {
  return isCompiled() ? [process.execPath, ...args] : [process.execPath, Bun.main, ...args];
}
