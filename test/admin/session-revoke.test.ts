/**
 * Dashboard sessions end on the server when their holder signs out (SPEC §18), one session at a
 * time: two sessions issued in the same millisecond are still two.
 */
import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import type { AdminEnv } from "../../src/admin/port.ts";
import { Sessions } from "../../src/admin/ui/session.ts";

const KEY = "k-session-test";
const NOW = 1_800_000_000_000;

function app(sessions: Sessions) {
  const a = new Hono<{ Bindings: AdminEnv }>();
  a.post("/in", async (c) => {
    await sessions.issue(c, KEY, NOW);
    return c.text("in");
  });
  a.post("/out", async (c) => {
    await sessions.end(c, KEY, NOW + 1000);
    return c.text("out");
  });
  a.get("/valid", async (c) => c.text(String(await sessions.valid(c, KEY, NOW + 2000))));
  return a;
}

describe("dashboard session sign-out", () => {
  test("of two sessions issued in the same millisecond, signing out one leaves the other valid", async () => {
    const a = app(new Sessions());
    const cookieOf = async () => (await a.request("/in", { method: "POST" })).headers.get("set-cookie")!.split(";")[0]!;
    const [first, second] = [await cookieOf(), await cookieOf()];
    const valid = async (cookie: string) => (await a.request("/valid", { headers: { cookie } })).text();
    const before = [await valid(first), await valid(second)];
    await a.request("/out", { method: "POST", headers: { cookie: first } });
    expect([first === second, before, await valid(first), await valid(second)]).toEqual([false, ["true", "true"], "false", "true"]);
  });
});
