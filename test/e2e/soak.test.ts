/**
 * A short soak in the suite: the mixed load of bench/soak.ts (keep-alive GETs, streamed uploads
 * and downloads checked by SHA-256, aborted downloads and uploads, WebSocket sessions, a reload
 * every 2 s) for 6 seconds against a proxy process. The long run, with RSS drift, is the bench.
 */
import { describe, expect, test } from "bun:test";
import { runSoak } from "../support/soak.ts";

describe("soak", () => {
  test("6 seconds of mixed load with reloads: no failure but the intended aborts, aborted streams cancelled upstream", async () => {
    const r = await runSoak({ seconds: 6, warmupSecs: 2, reloadEverySecs: 2, getClients: 2, idleWaitSecs: 0 });
    const kinds = ["keep-alive GET", "streamed upload", "streamed download", "aborted download (intended)", "aborted upload (intended)", "WebSocket session"];
    expect([
      r.firstErrors,
      r.reloads.applied >= 2 && r.reloads.failed === 0,
      kinds.filter((k) => !(r.counts[k]! > 5)),
      r.openBackendStreams,
      r.proxyExited,
      r.proxyStderr,
    ]).toEqual([[], true, [], 0, false, ""]);
  }, 40_000);
});
