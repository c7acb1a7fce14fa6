/**
 * The memory rate limit holds for the whole machine whatever worker_threads is (SPEC §4
 * rate_limiting.backend, §15.1): the buckets live in the primary and workers take tokens there.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { backend } from "../support/backend.ts";
import { startTestProxy } from "../support/project.ts";

test("one client whose connections land on two workers gets the configured rate once, within 10%", async () => {
  using b = backend(() => new Response("ok"));
  const rps = 20;
  const burst = 20;
  const toml = [
    '[server]\nbind = "127.0.0.1:0"\nhttps_port = 0\nworker_threads = 2\nshutdown_grace_period = 1',
    "[admin]\nenabled = false",
    '[logging]\noutput = "file:proxy.log"\nlog_endpoints = true',
    `[rate_limiting]\nenabled = true\nrequests_per_second = ${rps}\nburst_size = ${burst}`,
  ].join("\n\n");
  await using proxy = await startTestProxy(`default -> ${b.url}\n`, { rawToml: toml });
  let allowed = 0;
  let limited = 0;
  const start = performance.now();
  for (let i = 0; performance.now() - start < 3000 && i < 20_000; i++) {
    // A new connection each time, so the kernel spreads them over both workers (reusePort).
    const r = await fetch(`${proxy.url}/`, { keepalive: false, headers: { connection: "close" } });
    await r.arrayBuffer();
    if (r.status === 200) allowed++;
    else if (r.status === 429) limited++;
  }
  const seconds = (performance.now() - start) / 1000;
  const expected = burst + rps * seconds;
  const served = readFileSync(join(proxy.project.dir, "proxy.log"), "utf8")
    .split("\n")
    .filter((l) => l.includes('"endpoint request"'))
    .map((l) => JSON.parse(l) as { worker?: number });
  const workers = new Set(served.map((l) => l.worker));
  expect({ bothWorkersServed: workers.size, someLimited: limited > 0, withinTenPercent: Math.abs(allowed - expected) / expected <= 0.1 }).toEqual({
    bothWorkersServed: 2,
    someLimited: true,
    withinTenPercent: true,
  });
}, 30_000);
