import { describe, expect, test } from "bun:test";
import type { BreakerSettings } from "../../src/config/snapshot.ts";
import { Breakers, REFUSED } from "../../src/state/breakers.ts";

const A = "http://a:80";
const B = "http://b:80";

/** Breakers on a clock the test moves by hand. */
function setup(settings: Partial<BreakerSettings> = {}) {
  let now = 1_000;
  const breakers = new Breakers(() => now);
  breakers.configure({
    failureThreshold: 3,
    recoveryMs: 10_000,
    successThreshold: 2,
    failureStatusCodes: [502, 503, 504],
    permitTimeoutMs: 61_000,
    ...settings,
  });
  const fail = (origin = A) => breakers.report(origin, breakers.grant(origin), false);
  const view = (origin = A) => breakers.snapshot()[origin];
  return { breakers, fail, view, advance: (ms: number) => (now += ms) };
}

describe("circuit breaker transitions (SPEC §6.2)", () => {
  test("opens after failure_threshold consecutive failures; a success in between resets the count", () => {
    const { breakers, fail, view } = setup();
    fail();
    fail();
    breakers.report(A, breakers.grant(A), true);
    const afterSuccess = view();
    fail();
    fail();
    const beforeThird = breakers.grant(A);
    fail();
    expect([afterSuccess, beforeThird, view(), breakers.grant(A)]).toEqual([
      { state: "closed", consecutive_failures: 0, consecutive_successes: 0 },
      0,
      { state: "open", consecutive_failures: 3, consecutive_successes: 0 },
      REFUSED,
    ]);
  });

  test("an open breaker refuses until recovery_timeout_secs, then grants exactly one probe at a time", () => {
    const { breakers, fail, view, advance } = setup();
    for (let i = 0; i < 3; i++) fail();
    advance(9_999);
    const early = breakers.grant(A);
    advance(1);
    const probe = breakers.grant(A);
    const second = breakers.grant(A);
    expect([early, probe > 0, second, view()!.state]).toEqual([REFUSED, true, REFUSED, "half_open"]);
  });

  test("probe successes close it at success_threshold, issuing a new permit after each", () => {
    const { breakers, fail, view, advance } = setup();
    for (let i = 0; i < 3; i++) fail();
    advance(10_000);
    const first = breakers.grant(A);
    breakers.report(A, first, true);
    const mid = view();
    const next = breakers.grant(A);
    const blocked = breakers.grant(A);
    breakers.report(A, next, true);
    expect([mid, next > first, blocked, view(), breakers.grant(A)]).toEqual([
      { state: "half_open", consecutive_failures: 3, consecutive_successes: 1 },
      true,
      REFUSED,
      { state: "closed", consecutive_failures: 0, consecutive_successes: 0 },
      0,
    ]);
  });

  test("a failed probe reopens the breaker and restarts the recovery timer", () => {
    const { breakers, fail, view, advance } = setup();
    for (let i = 0; i < 3; i++) fail();
    advance(10_000);
    breakers.report(A, breakers.grant(A), false);
    const reopened = view()!.state;
    advance(9_000);
    const stillOpen = breakers.grant(A);
    advance(1_000);
    expect([reopened, stillOpen, breakers.grant(A) > 0]).toEqual(["open", REFUSED, true]);
  });

  test("outcomes of requests granted before the breaker opened are ignored while open and half-open", () => {
    const { breakers, view, advance } = setup();
    const early = [breakers.grant(A), breakers.grant(A), breakers.grant(A), breakers.grant(A), breakers.grant(A)];
    for (const t of early.slice(0, 3)) breakers.report(A, t, false);
    breakers.report(A, early[3]!, true); // a late success while open changes nothing
    const whileOpen = view();
    advance(10_000);
    const probe = breakers.grant(A);
    breakers.report(A, early[4]!, true); // not the permit holder
    expect([whileOpen, view(), breakers.grant(A)]).toEqual([
      { state: "open", consecutive_failures: 3, consecutive_successes: 0 },
      { state: "half_open", consecutive_failures: 3, consecutive_successes: 0 },
      REFUSED,
    ]);
    breakers.report(A, probe, true);
    expect(view()!.consecutive_successes).toBe(1);
  });

  test("a released probe frees the permit without counting", () => {
    const { breakers, fail, view, advance } = setup();
    for (let i = 0; i < 3; i++) fail();
    advance(10_000);
    breakers.release(A, breakers.grant(A));
    const again = breakers.grant(A);
    expect([again > 0, view()]).toEqual([true, { state: "half_open", consecutive_failures: 3, consecutive_successes: 0 }]);
  });

  test("a request with a body may hold the probe only until one without a body asks: that one takes it over", () => {
    const { breakers, fail, view, advance } = setup({ successThreshold: 1 });
    for (let i = 0; i < 3; i++) fail();
    advance(10_000);
    const upload = breakers.grant(A, false);
    const secondUpload = breakers.grant(A, false);
    const get = breakers.grant(A);
    const anotherGet = breakers.grant(A);
    // The upload's late outcome no longer counts; the GET's settles the breaker.
    breakers.report(A, upload, false);
    const afterUpload = view()!.state;
    breakers.report(A, get, true);
    expect([upload > 0, secondUpload, get > 0 && get !== upload, anotherGet, afterUpload, view()!.state]).toEqual([
      true,
      REFUSED,
      true,
      REFUSED,
      "half_open",
      "closed",
    ]);
  });

  test("a probe that never reports gets its permit reissued after the request timeout", () => {
    const { breakers, fail, advance } = setup();
    breakers.configure({ failureThreshold: 1, recoveryMs: 1_000, successThreshold: 1, failureStatusCodes: [502], permitTimeoutMs: 6_000 });
    fail();
    advance(1_000);
    const lost = breakers.grant(A);
    advance(5_999);
    const blocked = breakers.grant(A);
    advance(2);
    expect([lost > 0, blocked, breakers.grant(A) > lost]).toEqual([true, REFUSED, true]);
  });

  test("failure_status_codes decide which statuses are failures; 404 and 500 are successes by default", () => {
    const { breakers, view } = setup({ failureThreshold: 2 });
    for (const status of [502, 500, 503, 404, 504, 504]) breakers.reportStatus(A, breakers.grant(A), status);
    const open = view()!.state;
    breakers.configure({ failureThreshold: 1, recoveryMs: 10_000, successThreshold: 2, failureStatusCodes: [500], permitTimeoutMs: 61_000 });
    breakers.reportStatus(B, breakers.grant(B), 502);
    const b1 = view(B)!.state;
    breakers.reportStatus(B, breakers.grant(B), 500);
    expect([open, b1, view(B)!.state]).toEqual(["open", "closed", "open"]);
  });

  test("new settings apply at the next transition", () => {
    const { breakers, fail, view, advance } = setup();
    fail();
    fail();
    breakers.configure({ failureThreshold: 5, recoveryMs: 1_000, successThreshold: 1, failureStatusCodes: [502], permitTimeoutMs: 61_000 });
    fail();
    const stillClosed = view()!.state;
    fail();
    fail();
    advance(1_000);
    const probe = breakers.grant(A);
    breakers.report(A, probe, true);
    expect([stillClosed, probe > 0, view()!.state]).toEqual(["closed", true, "closed"]);
  });

  test("prune keeps the state of origins that stay and drops the rest; resetAll closes everything", () => {
    const { breakers, fail, view } = setup();
    for (let i = 0; i < 3; i++) fail(A), fail(B);
    breakers.prune(new Set([A]));
    const pruned = Object.keys(breakers.snapshot());
    const kept = view(A)!.state;
    breakers.resetAll();
    expect([pruned, kept, breakers.snapshot(), breakers.grant(A)]).toEqual([[A], "open", {}, 0]);
  });

  test("grantFor() grants like grant() and returns the probe's ticket", () => {
    const { breakers, fail, advance } = setup({ failureThreshold: 1 });
    fail();
    const refused = breakers.grantFor({ origin: A });
    advance(10_000);
    const ticket = breakers.grantFor({ origin: A });
    const second = breakers.grantFor({ origin: A });
    breakers.report(A, ticket, false);
    expect([refused, ticket > 0, second, breakers.snapshot()[A]!.state]).toEqual([REFUSED, true, REFUSED, "open"]);
  });
});
