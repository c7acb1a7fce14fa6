/**
 * `soli-proxy tui` (SPEC §16.5): a full-screen process that never starts apps itself. Renders the
 * App with Ink in the alternate screen, polls through the Feed, and gives the terminal back on
 * every way out.
 */
import { existsSync } from "node:fs";
import { render, type Instance } from "ink";
import { Feed } from "./data/feed.ts";
import { locate } from "./data/places.ts";
import { forceRestoreTerminal, guardTerminal, restoreInput } from "./terminal.ts";
import { App, type Outcome } from "./ui/App.tsx";

export interface TuiOptions {
  conf: string;
  sitesDir: string;
  runDir?: string | null;
  dev: boolean;
}

/** Runs until the user quits; returns the exit code, or throws with why it could not go on. */
export async function tui(opts: TuiOptions): Promise<number> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) throw new Error("tui needs an interactive terminal (stdin and stdout must be a TTY)");
  const places = locate({ conf: opts.conf, sitesDir: opts.sitesDir, runDir: opts.runDir });
  if (!existsSync(places.confPath)) throw new Error(`config file '${places.confPath}' not found`);
  const feed = new Feed(places);
  const outcome: Outcome = { code: 0 };

  // Guarded before the first frame, so a signal or crash at any moment unmounts. Ink's public
  // unmount() takes no error: the crash that ended the session is kept here.
  let instance: Instance | null = null;
  let ending = false;
  let crash: Error | null = null;
  let broken: (err: Error) => void = () => {};
  const unmountFailed = new Promise<never>((_, reject) => (broken = reject));
  const end = (error?: Error) => {
    ending = true;
    crash ??= error ?? null;
    try {
      instance?.unmount();
    } catch (err) {
      forceRestoreTerminal();
      broken(crash ?? (err as Error));
    }
  };
  const unguard = guardTerminal(end);

  try {
    instance = render(<App feed={feed} dev={opts.dev} outcome={outcome} />, {
      alternateScreen: true,
      // A TTY is interactive even when CI=true is set (Ink would otherwise draw only the last frame).
      interactive: true,
      exitOnCtrlC: false,
      incrementalRendering: true,
      maxFps: 20,
    });
    if (ending) instance.unmount();
    feed.start();
    // For the tests of the crash path: an uncaught error at a chosen moment.
    const crashMs = Number(process.env.SOLI_PROXY_INTERNAL_TUI_CRASH_MS);
    if (crashMs > 0) {
      setTimeout(() => {
        throw new Error("simulated crash (SOLI_PROXY_INTERNAL_TUI_CRASH_MS)");
      }, crashMs);
    }
    await Promise.race([instance.waitUntilExit(), unmountFailed]);
    if (crash) throw crash;
  } catch (err) {
    outcome.code = 1;
    outcome.error = (err as Error).message;
  } finally {
    feed.stop();
    unguard();
    restoreInput();
  }
  if (outcome.error) throw new Error(outcome.error);
  return outcome.code;
}
