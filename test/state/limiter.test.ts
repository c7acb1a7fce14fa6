import { describe, expect, test } from "bun:test";
import { Buckets, clientKey, Limiter } from "../../src/state/limiter.ts";

const spec = { perSecond: 2, burst: 3 };

describe("token buckets (SPEC §8)", () => {
  test("a new client starts full, each request takes a token, refills at the rate", () => {
    const b = new Buckets();
    const takes = [0, 0, 0, 0].map(() => b.take("1.2.3.4", spec, 1000));
    expect(takes.map((d) => [d.allowed, d.remaining, d.reset, d.retryAfter])).toEqual([
      [true, 2, 1, 0],
      [true, 1, 1, 0],
      [true, 0, 2, 0],
      [false, 0, 2, 1],
    ]);
    // 250 ms later half a token is back: still refused, one more second to wait at most.
    expect(b.take("1.2.3.4", spec, 1250)).toMatchObject({ allowed: false, remaining: 0, retryAfter: 1 });
    // 500 ms after that a whole token: allowed. Other clients have their own bucket.
    expect(b.take("1.2.3.4", spec, 1750)).toMatchObject({ allowed: true, remaining: 0 });
    expect(b.take("5.6.7.8", spec, 1750)).toMatchObject({ allowed: true, remaining: 2, limit: 3 });
  });

  test("Retry-After counts whole seconds until a token, at least 1", () => {
    const b = new Buckets();
    const slow = { perSecond: 0.1, burst: 1 };
    b.take("c", slow, 0);
    expect(b.take("c", slow, 0)).toMatchObject({ allowed: false, retryAfter: 10, reset: 10 });
    expect(b.take("c", slow, 9_500)).toMatchObject({ allowed: false, retryAfter: 1 });
  });

  test("the sweep drops buckets that are full again and keeps the others", () => {
    const b = new Buckets();
    b.take("a", spec, 0);
    b.take("b", spec, 0);
    b.take("b", spec, 0);
    b.take("b", spec, 0);
    // After 1 s, a (2 left + 2) is full; b (0 left + 2) is not.
    expect([b.sweep(1000), b.size]).toEqual([1, 1]);
    expect(b.take("b", spec, 1000)).toMatchObject({ remaining: 1 });
  });

  test("a flood of distinct addresses never holds more than maxKeys buckets", () => {
    const b = new Buckets(1000);
    let largest = 0;
    for (let i = 0; i < 50_000; i++) {
      b.take(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, spec, 0);
      largest = Math.max(largest, b.size);
    }
    expect(largest).toBe(1000);
    // The default bound (100 000) holds as well, even when no bucket is full yet.
    const big = new Limiter();
    for (let i = 0; i < 150_000; i++) big.take(big.global, `k${i}`, spec);
    expect(big.global.size).toBeLessThanOrEqual(100_000);
  });

  test("IPv6 clients are grouped by /64; IPv4 stays as is", () => {
    expect([clientKey("2001:db8:1:2:aaaa::1"), clientKey("2001:db8:1:2:ffff:ffff:ffff:ffff"), clientKey("2001:db8:1:3::1"), clientKey("192.0.2.7")]).toEqual([
      "2001:db8:1:2::/64",
      "2001:db8:1:2::/64",
      "2001:db8:1:3::/64",
      "192.0.2.7",
    ]);
  });

  test("a lowered burst after a reload caps the tokens a client has", () => {
    const b = new Buckets();
    b.take("a", { perSecond: 1, burst: 10 }, 0);
    expect(b.take("a", { perSecond: 1, burst: 2 }, 0)).toMatchObject({ allowed: true, remaining: 1, limit: 2 });
  });

  test("rule buckets are separate from the global ones and pruned with their rule", () => {
    const limiter = new Limiter();
    const rule = limiter.rule("/api/*");
    limiter.takeLocal(rule, "1.1.1.1", { perSecond: 1, burst: 1 });
    expect(limiter.takeLocal(limiter.global, "1.1.1.1", { perSecond: 1, burst: 1 }).allowed).toBe(true);
    expect(limiter.takeLocal(rule, "1.1.1.1", { perSecond: 1, burst: 1 }).allowed).toBe(false);
    limiter.prune(new Set(["/other/*"]));
    expect(limiter.takeLocal(limiter.rule("/api/*"), "1.1.1.1", { perSecond: 1, burst: 1 }).allowed).toBe(true);
  });
});
