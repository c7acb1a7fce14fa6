/**
 * A real terminal for the TUI tests: a private tmux server (its own socket, no user config) with
 * one session of a fixed size running a plain bash. Tests type with send-keys, read the screen
 * with capture-pane, and wait on what the screen shows, never on time.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "./wait.ts";

export interface Terminal extends AsyncDisposable {
  /** A scratch directory that lives as long as the terminal. */
  readonly dir: string;
  /** Types a shell command and Enter. */
  run(command: string): Promise<void>;
  /** Sends keys by tmux name (`Enter`, `Tab`, `BTab`, `Escape`, `q`…), one write per key. */
  keys(...keys: string[]): Promise<void>;
  /** Types text literally, without Enter. */
  type(text: string): Promise<void>;
  /** The visible screen, one string, lines joined by `\n`. */
  screen(): Promise<string>;
  /** Polls the screen until `check` holds; returns that screen. Fails with the last screen. */
  waitFor(check: string | RegExp | ((screen: string) => boolean), what: string, timeoutMs?: number): Promise<string>;
  /** tmux's newest paste buffer: where an OSC 52 clipboard write lands. */
  clipboard(): Promise<string>;
  /** A tmux format for the pane (`#{alternate_on}`, `#{cursor_flag}`…). */
  info(format: string): Promise<string>;
  resize(columns: number, rows: number): Promise<void>;
  close(): Promise<void>;
}

/** The shell's prompt (capture-pane drops its trailing space). */
export const PROMPT = "tui-test$ ";

export async function openTerminal(opts: { columns: number; rows: number; env?: Record<string, string> }): Promise<Terminal> {
  const dir = mkdtempSync(join(tmpdir(), "soli-tmux-"));
  const socket = join(dir, "tmux.sock");
  const tmux = async (...args: string[]): Promise<string> => {
    const proc = Bun.spawn(["tmux", "-S", socket, "-f", "/dev/null", ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, TMUX: "" } });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    if (code !== 0) throw new Error(`tmux ${args.join(" ")} failed (exit ${code}): ${err.trim()}`);
    return out;
  };
  const env = Object.entries({ PS1: PROMPT, TERM: "xterm-256color", ...opts.env }).map(([k, v]) => `${k}='${v.replaceAll("'", "'\\''")}'`);
  await tmux("new-session", "-d", "-s", "t", "-x", String(opts.columns), "-y", String(opts.rows), `env ${env.join(" ")} bash --norc --noprofile`);
  // Programs may set the clipboard with OSC 52; tmux keeps what they set as a paste buffer.
  await tmux("set-option", "-s", "set-clipboard", "on");
  const screen = () => tmux("capture-pane", "-p", "-t", "t");
  const term: Terminal = {
    dir,
    run: async (command) => {
      await tmux("send-keys", "-t", "t", "-l", command);
      await tmux("send-keys", "-t", "t", "Enter");
    },
    keys: async (...keys) => {
      for (const key of keys) await tmux("send-keys", "-t", "t", key);
    },
    type: async (text) => {
      await tmux("send-keys", "-t", "t", "-l", text);
    },
    screen,
    waitFor: async (check, what, timeoutMs = 10_000) => {
      const test = typeof check === "function" ? check : typeof check === "string" ? (s: string) => s.includes(check) : (s: string) => check.test(s);
      let last = "";
      // capture-pane is the only way to see the screen: polled, as waitFor does, every 50 ms.
      return waitFor(
        async () => {
          last = await screen();
          return test(last) ? last : null;
        },
        what,
        timeoutMs,
        50,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; the screen was:\n${last}`);
      });
    },
    clipboard: () => tmux("show-buffer").catch(() => ""),
    info: async (format) => (await tmux("display-message", "-p", "-t", "t", format)).trim(),
    resize: async (columns, rows) => {
      await tmux("resize-window", "-t", "t", "-x", String(columns), "-y", String(rows));
    },
    close: async () => {
      await tmux("kill-server").catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
    [Symbol.asyncDispose]: () => term.close(),
  };
  try {
    await term.waitFor((s) => s.includes(PROMPT.trim()), "the shell prompt");
  } catch (err) {
    await term.close();
    throw err;
  }
  return term;
}
