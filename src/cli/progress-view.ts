/**
 * How the CLI shows a deploy's progress (SPEC §16.1): on a terminal one live status line
 * (spinner, health attempt, elapsed of timeout, last error) with the other phases printed above
 * it; otherwise one plain line per event, for logs and CI.
 */
import { describeProgress, type Progress } from "../apps/progress.ts";

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export interface ProgressView {
  show(progress: Progress): void;
  /** Clears the live line (before the final message). */
  end(): void;
}

export function progressView(app: string, out: (text: string) => void, terminal: boolean): ProgressView {
  if (!terminal) return { show: (p) => out(`  ${describeProgress(app, p)}\n`), end() {} };
  let status: string | null = null;
  let frame = 0;
  let spinner: ReturnType<typeof setInterval> | null = null;
  const draw = () => {
    if (status !== null) out(`\r\x1b[2K${SPINNER[frame++ % SPINNER.length]} ${status}`);
  };
  const clear = () => {
    if (status !== null) out("\r\x1b[2K");
  };
  return {
    show(p) {
      if (p.phase === "health" && p.last_error !== null) {
        status = `${app}: waiting for health, attempt ${p.attempt}, ${p.elapsed_secs}s of ${p.timeout_secs}s (last error: ${p.last_error})`;
        spinner ??= setInterval(draw, 100);
        draw();
        return;
      }
      clear();
      out(`  ${describeProgress(app, p)}\n`);
      status = p.phase === "done" || p.phase === "failed" ? null : `${app}: ${p.phase}`;
      if (status !== null) spinner ??= setInterval(draw, 100);
      draw();
    },
    end() {
      if (spinner) clearInterval(spinner);
      spinner = null;
      clear();
      status = null;
    },
  };
}
