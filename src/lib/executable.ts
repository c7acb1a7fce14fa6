/**
 * What this process was started as: the compiled single executable (`bun build --compile`) or
 * `bun src/main.ts`. Self-update needs the former; the daemon re-runs whichever it is.
 */

/** True inside an executable made by `bun build --compile` (its modules live in Bun's embedded /$bunfs). */
export function isCompiled(): boolean {
  return Bun.main.startsWith("/$bunfs/") || Bun.main.startsWith("B:/~BUN/");
}

/**
 * The executable's path as it was at start-up. process.execPath reads /proc/self/exe, which says
 * `<path> (deleted)` once `update` renamed a new executable over ours; re-executing must start
 * the file now at the path (SPEC §15.5), so the path is taken before that can happen.
 */
const EXECUTABLE = process.execPath.replace(/ \(deleted\)$/, "");

/** The argv that starts this program again with `args`: the executable, plus the script when run from source. */
export function selfCommand(args: readonly string[]): string[] {
  return isCompiled() ? [EXECUTABLE, ...args] : [EXECUTABLE, Bun.main, ...args];
}
