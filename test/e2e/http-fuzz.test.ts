/**
 * Mutated raw HTTP requests against a running proxy: it never crashes, keeps serving, and never
 * sends the backend anything a strict HTTP/1.1 parser refuses. bench/fuzz.ts sends 10,000.
 */
import { describe, expect, test } from "bun:test";
import { fuzzHttp, strictBackend, strictParse } from "../support/http-fuzz.ts";
import { startTestProxy } from "../support/project.ts";

describe("HTTP request fuzzing", () => {
  test("the strict backend parser refuses what a desync needs and accepts well-framed streams", () => {
    const bad = [
      "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n folded\r\n\r\n",
      "GET http://x/ HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET / HTTP/1.0\r\nHost: a\r\n\r\n",
    ].map((b) => "why" in strictParse(b));
    const good = strictParse(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /2 HTTP/1.1\r\nhost: a\r\ncontent-length: 1\r\n\r\nxGET /3",
    );
    expect([bad, good]).toEqual([Array(7).fill(true), { used: 117, requests: 2 }]);
  });

  test("1,000 mutated requests: only well-formed requests reach the backend and the proxy keeps serving", async () => {
    await using strict = await strictBackend();
    await using proxy = await startTestProxy(`default -> http://127.0.0.1:${strict.port}`);
    const stats = await fuzzHttp(proxy.handle.http.port, { seed: 11, count: 1000, concurrency: 20, timeoutMs: 300 });
    const after = await fetch(proxy.url + "/still-there");
    const answered = Object.entries(stats.statuses)
      .filter(([s]) => s !== "0")
      .reduce((n, [, c]) => n + c, 0);
    // Both paths must be exercised: requests refused at the door and requests proxied.
    expect([
      strict.violations,
      stats.sent,
      (stats.statuses[200] ?? 0) > 30 && strict.requests > 50,
      (stats.statuses[400] ?? 0) > 100,
      answered > 800,
      after.status,
      await after.text(),
    ]).toEqual([[], 1000, true, true, true, 200, "ok"]);
  }, 30_000);
});
