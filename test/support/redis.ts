/**
 * A real redis-server for cluster tests (SPEC §17): on a free loopback port, its own temp dir, no
 * persistence. `stop()` and `start()` again keep the port, so nodes can watch it go and come back.
 */
import type { Subprocess } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RedisClient } from "bun";
import { freePortBlock } from "./apps.ts";
import { waitFor } from "./wait.ts";

export interface TestRedis extends AsyncDisposable {
  readonly port: number;
  readonly url: string;
  /** A client for the test's own reads and writes. */
  client(): Promise<RedisClient>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** SIGSTOP / SIGCONT: a Redis that keeps its connections open but answers nothing. */
  pause(): void;
  resume(): void;
}

export async function startRedis(opts: { password?: string } = {}): Promise<TestRedis> {
  // Below the ephemeral range, so an outgoing socket cannot take it while Redis is stopped.
  const port = freePortBlock(1);
  const dir = mkdtempSync(join(tmpdir(), "soli-redis-"));
  let proc: Subprocess | null = null;
  const auth = opts.password ? `:${encodeURIComponent(opts.password)}@` : "";
  const url = `redis://${auth}127.0.0.1:${port}`;
  const clients: RedisClient[] = [];

  const start = async () => {
    const args = ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"];
    if (opts.password) args.push("--requirepass", opts.password);
    proc = Bun.spawn(args, { stdout: "ignore", stderr: "ignore" });
    await waitFor(async () => {
      const c = new RedisClient(url, { autoReconnect: false, connectionTimeout: 500 });
      try {
        await c.connect();
        return (await c.send("PING", [])) === "PONG";
      } finally {
        c.close();
      }
    }, "redis-server to answer PING");
  };
  const stop = async () => {
    const p = proc as Subprocess | null;
    proc = null;
    if (!p) return;
    p.kill("SIGKILL");
    await p.exited;
  };
  await start();
  const dispose = async () => {
    (proc as Subprocess | null)?.kill("SIGCONT");
    for (const c of clients) c.close();
    await stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    port,
    url,
    async client() {
      const c = new RedisClient(url, { connectionTimeout: 1000 });
      await c.connect();
      clients.push(c);
      return c;
    },
    start,
    stop,
    pause: () => (proc as Subprocess | null)?.kill("SIGSTOP"),
    resume: () => (proc as Subprocess | null)?.kill("SIGCONT"),
    [Symbol.asyncDispose]: dispose,
  };
}
