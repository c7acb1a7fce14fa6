/**
 * Values read from Redis are checked like any input (SPEC §17.7): what each parser accepts and
 * refuses, without a server.
 */
import { describe, expect, test } from "bun:test";
import { MAX_CONF_BYTES, parsePublished, sha256 } from "../../src/cluster/config-sync.ts";
import { parseRecord } from "../../src/cluster/members.ts";
import { fromReply } from "../../src/cluster/rate.ts";
import { redactUrl } from "../../src/cluster/redis.ts";

const spec = { perSecond: 10, burst: 20 };

describe("values from Redis", () => {
  test("a rate-limit script reply must be [0|1, tokens within the burst]", () => {
    const outcome = (reply: unknown) => {
      try {
        const d = fromReply(reply, spec);
        return [d.allowed, d.remaining, d.reset];
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect([[1, "19.5"], [0, "0.25"], [1, "21"], [2, "1"], [1, "NaN"], "OK", null, [1]].map(outcome)).toEqual([
      [true, 19, 1],
      [false, 0, 2],
      ...Array(6).fill("unexpected rate-limit reply from redis"),
    ]);
  });

  test("a published configuration needs a version, its checksum, and at most 1 MiB of text", () => {
    const text = "default -> http://127.0.0.1:9\n";
    const big = "x".repeat(MAX_CONF_BYTES + 1);
    const cases: unknown[] = [
      ["3", text, sha256(text), "a", "1700000000000"],
      ["3", text, sha256("other"), "a", "1700000000000"],
      ["0", text, sha256(text), "a", "1"],
      ["x", text, sha256(text), "a", "1"],
      ["3", big, sha256(big), "a", "1"],
      ["3", null, null, null, null],
      "garbage",
    ];
    expect(cases.map((c) => parsePublished(c)?.version ?? null)).toEqual([3, null, null, null, null, null, null]);
  });

  test("a member record is a JSON object of the right shape and size", () => {
    const good = {
      node_id: "a",
      instance: "i",
      version: "0.1.0",
      config_version: 1,
      config_sha256: "ab",
      started: 1,
      last_seen: 2,
      requests_per_second: 0.5,
      last_reload_error: null,
    };
    expect(
      [
        JSON.stringify(good),
        JSON.stringify({ ...good, config_version: -1 }),
        "{not json",
        JSON.stringify({ ...good, last_reload_error: "x".repeat(20_000) }),
        42,
      ].map((v) => parseRecord(v)?.node_id ?? null),
    ).toEqual(["a", null, null, null, null]);
  });

  test("a Redis URL in logs has no password", () => {
    expect([redactUrl("redis://user:hunter2@10.0.0.5:6379/0"), redactUrl("rediss://10.0.0.5"), redactUrl("::")]).toEqual([
      "redis://user:***@10.0.0.5:6379/0",
      "rediss://10.0.0.5",
      "(invalid redis url)",
    ]);
  });
});
