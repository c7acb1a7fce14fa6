/**
 * `soli-proxy hash-password [PASSWORD] [--cost N]` and `soli-proxy hash-key [KEY]` (SPEC §16.3).
 * The hash alone goes to stdout, so `$(soli-proxy hash-password …)` works; prompts and usage
 * examples go to stderr. Without an argument the secret is read without echo from a terminal, or
 * as one line from piped stdin.
 */
import { createHash } from "node:crypto";

export interface SecretIo {
  /** Standard output (the hash). */
  out(text: string): void;
  /** Standard error (prompts, examples, errors). */
  err(text: string): void;
  /** Reads the secret when none was given: no echo on a terminal, else one line of stdin. */
  readSecret(prompt: string): Promise<string | null>;
}

const BCRYPT_MAX_BYTES = 72;
export const DEFAULT_COST = 12;

export async function hashPassword(args: readonly string[], cost: number | null, io: SecretIo = processIo()): Promise<number> {
  const rounds = cost ?? DEFAULT_COST;
  if (!Number.isInteger(rounds) || rounds < 4 || rounds > 13) {
    io.err(`Error: --cost must be an integer from 4 to 13, not ${rounds}\n`);
    return 2;
  }
  if (args.length > 1) {
    io.err("Error: hash-password takes one PASSWORD (quote it if it contains spaces)\n");
    return 2;
  }
  const password = args[0] ?? (await io.readSecret("Enter password: "));
  if (password === null || password === "") {
    io.err("Error: Password cannot be empty\n");
    return 1;
  }
  const bytes = Buffer.byteLength(password, "utf8");
  if (bytes > BCRYPT_MAX_BYTES) {
    io.err(`Error: Password is ${bytes} bytes long; bcrypt uses at most ${BCRYPT_MAX_BYTES}\n`);
    return 1;
  }
  const hash = await Bun.password.hash(password, { algorithm: "bcrypt", cost: rounds });
  io.out(`${hash}\n`);
  io.err(`\nUse it in proxy.conf:\n  example.com -> http://localhost:8080 @auth:admin:${hash}\nor in config.toml:\n  [auth.users]\n  admin = "${hash}"\n`);
  return 0;
}

export async function hashKey(args: readonly string[], io: SecretIo = processIo()): Promise<number> {
  if (args.length > 1) {
    io.err("Error: hash-key takes one KEY\n");
    return 2;
  }
  const key = args[0] ?? (await io.readSecret("Enter key: "));
  if (key === null || key === "") {
    io.err("Error: Key cannot be empty\n");
    return 1;
  }
  const digest = `sha256:${createHash("sha256").update(key, "utf8").digest("hex")}`;
  io.out(`${digest}\n`);
  io.err(`\nUse it in config.toml:\n  [auth.api_keys]\n  my-client = "${digest}"\n`);
  return 0;
}

/** The real terminal or pipe. */
export function processIo(): SecretIo {
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    readSecret: (prompt) => (process.stdin.isTTY ? readHidden(prompt) : readLine()),
  };
}

/** One line of piped stdin, without its line ending; null when stdin is empty. */
async function readLine(): Promise<string | null> {
  const reader = Bun.stdin.stream().getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (text.includes("\n")) break;
    }
  } finally {
    void reader.cancel().catch(() => {});
  }
  const line = text.split("\n")[0] ?? "";
  return text === "" ? null : line.replace(/\r$/, "");
}

/** Reads a line from the terminal in raw mode, echoing nothing. Ctrl-C or Ctrl-D give null. */
function readHidden(prompt: string): Promise<string | null> {
  const stdin = process.stdin;
  // Raw mode first: anything typed after the prompt appears must not be echoed.
  stdin.setRawMode(true);
  process.stderr.write(prompt);
  return new Promise((resolve) => {
    let secret = "";
    const finish = (value: string | null) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off("data", onData);
      process.stderr.write("\n");
      resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const c of chunk.toString("utf8")) {
        if (c === "\r" || c === "\n") return finish(secret);
        if (c === "\u0003" || c === "\u0004") return finish(null);
        if (c === "\u007f" || c === "\b") secret = [...secret].slice(0, -1).join("");
        else secret += c;
      }
    };
    stdin.resume();
    stdin.on("data", onData);
  });
}
