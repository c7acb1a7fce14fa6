import { describe, expect, test } from "bun:test";
import { backend } from "../support/backend.ts";
import { startTestProxy } from "../support/project.ts";

/**
 * Status and limit headers. Tokens refill continuously, so RateLimit-Reset and Retry-After (whole
 * seconds) shrink by one for every second a slow machine spends between requests: each is
 * reported as the nearest expected value when it is at most 2 s below it.
 */
const limitHeaders = (r: Response) => [
  r.status,
  r.headers.get("ratelimit-limit"),
  r.headers.get("ratelimit-remaining"),
  near(r.headers.get("ratelimit-reset")),
  near(r.headers.get("retry-after")),
];
const EXPECTED_SECONDS = [10, 20, 40, 60, 400];
const near = (value: string | null) => {
  const n = EXPECTED_SECONDS.find((e) => value !== null && Number(value) <= e && Number(value) >= e - 2);
  return n !== undefined ? String(n) : value;
};

describe("rate limiting (SPEC §8)", () => {
  test("the global bucket: RateLimit-* on every response, 429 with Retry-After when empty", async () => {
    using b = backend(() => new Response("ok"));
    await using proxy = await startTestProxy(`default -> ${b.url}\n`, {
      toml: "[rate_limiting]\nenabled = true\nrequests_per_second = 0.05\nburst_size = 3\n",
    });
    const results = [];
    for (const path of ["/a", "/health/live", "/b", "/c"]) {
      const r = await fetch(proxy.url + path);
      results.push([path, ...limitHeaders(r), await r.text()]);
    }
    expect(results).toEqual([
      ["/a", 200, "3", "2", "20", null, "ok"],
      ["/health/live", 200, "3", "1", "40", null, "OK"],
      ["/b", 200, "3", "0", "60", null, "ok"],
      ["/c", 429, "3", "0", "60", "20", "Rate limit exceeded"],
    ]);
    expect(b.seen.map((s) => s.path)).toEqual(["/a", "/b"]);
  });

  test("buckets are per client IP as resolved through trusted proxies", async () => {
    using b = backend(() => new Response("ok"));
    await using proxy = await startTestProxy(`default -> ${b.url}\n`, {
      server: 'trusted_proxies = ["127.0.0.1"]',
      toml: "[rate_limiting]\nenabled = true\nrequests_per_second = 0.1\nburst_size = 1\n",
    });
    const statuses = [];
    for (const client of ["203.0.113.1", "203.0.113.1", "203.0.113.2", "2001:db8::1", "2001:db8::2"]) {
      const r = await fetch(proxy.url, { headers: { "x-forwarded-for": client } });
      await r.text();
      statuses.push(r.status);
    }
    // The two IPv6 clients share a /64, so the second is refused.
    expect(statuses).toEqual([200, 429, 200, 200, 429]);
  });

  test("a rule's own limit applies after the global one and only to that rule", async () => {
    using b = backend(() => new Response("ok"));
    const conf = `/slow/* -> ${b.url}\n/slow/* {\n    rate_limit: 6/m burst 2\n}\ndefault -> ${b.url}\n`;
    await using proxy = await startTestProxy(conf, { toml: "[rate_limiting]\nenabled = true\nrequests_per_second = 0.01\nburst_size = 100\n" });
    const results = [];
    for (const path of ["/slow/1", "/slow/2", "/slow/3", "/other"]) {
      const r = await fetch(proxy.url + path);
      await r.text();
      results.push([path, ...limitHeaders(r)]);
    }
    expect(results).toEqual([
      ["/slow/1", 200, "2", "1", "10", null],
      ["/slow/2", 200, "2", "0", "20", null],
      ["/slow/3", 429, "2", "0", "20", "10"],
      ["/other", 200, "100", "96", "400", null],
    ]);
  });

  test("without [rate_limiting] nothing is limited and no RateLimit headers are sent", async () => {
    using b = backend(() => new Response("ok"));
    await using proxy = await startTestProxy(`default -> ${b.url}\n`);
    const statuses = [];
    for (let i = 0; i < 20; i++) {
      const r = await fetch(proxy.url);
      await r.text();
      statuses.push([r.status, r.headers.get("ratelimit-limit")]);
    }
    expect(new Set(statuses.map((s) => JSON.stringify(s)))).toEqual(new Set([JSON.stringify([200, null])]));
  });
});
