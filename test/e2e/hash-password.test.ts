import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { MAIN, ROOT, runCli } from "../support/spawn.ts";
import { waitFor } from "../support/wait.ts";

describe("hash-password and hash-key (SPEC §16.3)", () => {
  test("an argument is hashed with the given cost; the hash alone goes to stdout, examples to stderr", async () => {
    const r = await runCli(["hash-password", "pa ss", "--cost", "5"]);
    const hash = r.stdout.trim();
    expect([r.code, /^\$2b\$05\$[./A-Za-z0-9]{53}$/.test(hash), r.stdout.split("\n").length, await Bun.password.verify("pa ss", hash)]).toEqual([
      0,
      true,
      2,
      true,
    ]);
    expect(r.stderr).toContain(`example.com -> http://localhost:8080 @auth:admin:${hash}`);
    expect(r.stderr).toContain(`[auth.users]\n  admin = "${hash}"`);
  });

  test("without an argument one line is read from stdin (cost 12 by default)", async () => {
    const r = await runCli(["hash-password"], { stdin: "from-stdin\nsecond line\n" });
    const hash = r.stdout.trim();
    expect([r.code, hash.slice(0, 7), await Bun.password.verify("from-stdin", hash)]).toEqual([0, "$2b$12$", true]);
  });

  test("empty and over-long passwords and bad costs are refused", async () => {
    const results = await Promise.all([
      runCli(["hash-password"], { stdin: "\n" }),
      runCli(["hash-password", "x".repeat(73)]),
      runCli(["hash-password", "ok", "--cost", "14"]),
    ]);
    expect(results.map((r) => [r.code, r.stdout, r.stderr.trim()])).toEqual([
      [1, "", "Error: Password cannot be empty"],
      [1, "", "Error: Password is 73 bytes long; bcrypt uses at most 72"],
      [2, "", "Error: --cost must be an integer from 4 to 13, not 14"],
    ]);
  });

  test("on a terminal the password is read without echo", async () => {
    if (Bun.which("script") === null) {
      console.warn("script(1) not installed: terminal test skipped");
      return;
    }
    // script(1) gives the command a real pseudo-terminal and relays our stdin to it.
    const proc = Bun.spawn(["script", "-qec", `${process.execPath} ${MAIN} hash-password --cost 4`, "/dev/null"], {
      cwd: ROOT,
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    let out = "";
    const pumped = (async () => {
      for await (const chunk of proc.stdout) out += new TextDecoder().decode(chunk);
    })();
    await waitFor(() => out.includes("Enter password: "), "the prompt", 10_000);
    proc.stdin.write("tty-secret\r");
    await proc.stdin.flush();
    const code = await proc.exited;
    await pumped; // everything the terminal printed, up to its end
    const hash = /\$2b\$04\$[./A-Za-z0-9]{53}/.exec(out)?.[0] ?? "";
    expect([code, out.includes("tty-secret"), await Bun.password.verify("tty-secret", hash)]).toEqual([0, false, true]);
  });

  test("hash-key prints the sha256: form of an argument or of a stdin line", async () => {
    const expected = `sha256:${createHash("sha256").update("my-api-key").digest("hex")}`;
    const [arg, stdin, empty] = await Promise.all([
      runCli(["hash-key", "my-api-key"]),
      runCli(["hash-key"], { stdin: "my-api-key\r\n" }),
      runCli(["hash-key"], { stdin: "" }),
    ]);
    expect([arg.code, arg.stdout, stdin.code, stdin.stdout, empty.code, empty.stderr.trim()]).toEqual([
      0,
      `${expected}\n`,
      0,
      `${expected}\n`,
      1,
      "Error: Key cannot be empty",
    ]);
  });
});
