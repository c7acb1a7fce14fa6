/**
 * A node that joins with its own proxy.conf (SPEC §17.4), against a real redis-server: an older
 * file takes the cluster's configuration quietly; a newer, different one replaces the cluster's
 * and says so with both dates, since a freshly set-up node would otherwise wipe every node's rules
 * without a word.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { ConfigSync } from "../../src/cluster/config-sync.ts";
import { RedisLink } from "../../src/cluster/redis.ts";
import { tempProject } from "../support/project.ts";
import { startRedis, type TestRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis[Symbol.asyncDispose]();
});

/** One node's config sync on its own proxy.conf, written with the given modification time. */
async function node(dir: string, cluster: string, id: string, text: string, mtime: Date) {
  const conf = join(dir, `${id}.conf`);
  writeFileSync(conf, text);
  utimesSync(conf, mtime, mtime);
  const lines: string[] = [];
  const log = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
  const link = new RedisLink({ url: redis.url, log: () => log });
  await link.start();
  const sync = new ConfigSync({
    redis: link,
    cluster,
    nodeId: id,
    confPath: conf,
    appliedText: () => readFileSync(conf, "utf8"),
    apply: async (next) => {
      writeFileSync(conf, next);
      return { ok: true, version: 1 };
    },
    member: () => true,
    log: () => log,
  });
  await sync.sync();
  return {
    text: () => readFileSync(conf, "utf8"),
    warnings: () => lines.filter((l) => l.includes('"level":40')).map((l) => JSON.parse(l).msg as string),
    sync,
    [Symbol.dispose]() {
      sync.stop();
      link.close();
    },
  };
}

describe("a node joining the cluster with its own proxy.conf", () => {
  test("an older file takes the cluster's configuration without a warning", async () => {
    using project = tempProject();
    using first = await node(project.dir, "join-old", "n1", "default -> http://127.0.0.1:1\n", new Date("2026-01-02T00:00:00Z"));
    using second = await node(project.dir, "join-old", "n2", "default -> http://127.0.0.1:2\n", new Date("2026-01-01T00:00:00Z"));
    expect([first.text(), second.text(), first.warnings(), second.warnings()]).toEqual([
      "default -> http://127.0.0.1:1\n",
      "default -> http://127.0.0.1:1\n",
      [],
      [],
    ]);
  });

  test("a newer, different file replaces the cluster's on every node, and the joining node says so with both dates", async () => {
    using project = tempProject();
    using first = await node(project.dir, "join-new", "n1", "default -> http://127.0.0.1:1\n", new Date("2026-01-01T00:00:00Z"));
    using second = await node(project.dir, "join-new", "n2", "", new Date("2026-01-02T00:00:00Z"));
    await waitFor(async () => {
      await first.sync.sync();
      return first.text() === "";
    }, "the first node to take the newer (empty) file");
    expect(second.warnings()).toEqual([
      "cluster: this node's proxy.conf (changed 2026-01-02T00:00:00.000Z) is newer than the cluster's v1 from n1 (changed 2026-01-01T00:00:00.000Z) and replaces it on every node",
    ]);
  });
});
