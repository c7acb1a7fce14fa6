import { describe, expect, test } from "bun:test";
import { backend } from "../support/backend.ts";
import { startTestProxy } from "../support/project.ts";
import { waitFor } from "../support/wait.ts";
import { writeFileSync } from "node:fs";

/** Sends `n` requests one after another; returns the body of each. */
async function bodies(url: string, n: number, init?: RequestInit): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await (await fetch(url, init)).text());
  return out;
}
function count(list: string[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const x of list) c[x] = (c[x] ?? 0) + 1;
  return c;
}
/** A port nothing listens on: bound once, then released. */
function deadPort(): number {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = s.port!;
  s.stop(true);
  return port;
}

describe("load balancing (SPEC §6.1)", () => {
  test("round-robin gives three backends exactly equal shares in turn", async () => {
    using a = backend(() => new Response("a"));
    using b = backend(() => new Response("b"));
    using c = backend(() => new Response("c"));
    await using proxy = await startTestProxy(`/rr/* -> ${a.url}, ${b.url}, ${c.url}`);
    const got = await bodies(proxy.url + "/rr/x", 300);
    expect([count(got), got.slice(0, 6).join("")]).toEqual([{ a: 100, b: 100, c: 100 }, "abcabc"]);
  });

  test("weights 70/30 split 1000 requests within 5% of 700/300, interleaved", async () => {
    using a = backend(() => new Response("A"));
    using b = backend(() => new Response("B"));
    await using proxy = await startTestProxy(`/w -> weight:70 ${a.url}, weight:30 ${b.url}`);
    const got = await bodies(proxy.url + "/w", 1000);
    const { A = 0, B = 0 } = count(got);
    // The SPEC stride spreads B out: never more than three As in a row.
    expect([Math.abs(A - 700) <= 50, Math.abs(B - 300) <= 50, A + B, /AAAA/.test(got.join(""))]).toEqual([true, true, 1000, false]);
  });

  test("a rule's rotation continues across a reload that keeps the rule", async () => {
    using a = backend(() => new Response("a"));
    using b = backend(() => new Response("b"));
    await using proxy = await startTestProxy(`/rr -> ${a.url}, ${b.url}`);
    const before = await bodies(proxy.url + "/rr", 1);
    writeFileSync(proxy.project.conf, `/other -> ${a.url}\n/rr -> ${a.url}, ${b.url}\n`);
    const reloaded = await proxy.handle.reload();
    const after = await bodies(proxy.url + "/rr", 2);
    expect([before, reloaded.ok, after]).toEqual([["a"], true, ["b", "a"]]);
  });

  test("upstream connections are kept alive and reused", async () => {
    using a = backend(() => new Response("ok"));
    await using proxy = await startTestProxy(`default -> ${a.url}`);
    await bodies(proxy.url + "/", 50);
    const stats = proxy.handle.state.pool.stats();
    expect([stats.opened, stats.reused]).toEqual([1, 49]);
  });
});

describe("circuit breakers (SPEC §6.2)", () => {
  const toml = (threshold: number, recovery: number, successes = 2) =>
    `[circuit_breaker]\nfailure_threshold = ${threshold}\nrecovery_timeout_secs = ${recovery}\nsuccess_threshold = ${successes}\n`;

  test("a backend failing on command is taken out, probed after recovery_timeout and taken back", async () => {
    let failing = false;
    using flaky = backend(() => (failing ? new Response("flaky down", { status: 503 }) : new Response("flaky")));
    using steady = backend(() => new Response("steady"));
    await using proxy = await startTestProxy(`/svc -> ${flaky.url}, ${steady.url}`, { toml: toml(2, 1) });
    const state = () => proxy.handle.state.breakers.snapshot()[`http://127.0.0.1:${flaky.port}`];

    failing = true;
    const failingPhase = await bodies(proxy.url + "/svc", 6);
    const opened = state();
    failing = false;
    const whileOpen = await bodies(proxy.url + "/svc", 4);
    // After recovery_timeout_secs the first request that checks the flaky backend is its probe.
    await waitFor(async () => (await bodies(proxy.url + "/svc", 1))[0] === "flaky", "the probe to reach the recovered backend", 5000, 50);
    const halfOpen = state();
    await waitFor(async () => (await bodies(proxy.url + "/svc", 1))[0] === "flaky", "a second successful probe", 2000, 10);
    expect([count(failingPhase), opened, count(whileOpen), halfOpen, state()]).toEqual([
      { "flaky down": 2, steady: 4 },
      { state: "open", consecutive_failures: 2, consecutive_successes: 0 },
      { steady: 4 },
      { state: "half_open", consecutive_failures: 2, consecutive_successes: 1 },
      { state: "closed", consecutive_failures: 0, consecutive_successes: 0 },
    ]);
  });

  test("when every target's breaker is open the proxy answers 503 itself", async () => {
    using down = backend(() => new Response("backend says 502", { status: 502 }));
    await using proxy = await startTestProxy(`default -> ${down.url}`, { toml: toml(3, 60) });
    const answers: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await fetch(proxy.url + "/");
      answers.push(`${r.status} ${await r.text()}`);
    }
    expect([answers, down.seen.length]).toEqual([
      ["502 backend says 502", "502 backend says 502", "502 backend says 502", "503 Service Unavailable", "503 Service Unavailable"],
      3,
    ]);
  });

  test("breaker state survives a reload for origins that stay and is dropped for origins that go", async () => {
    using down = backend(() => new Response("down", { status: 504 }));
    using other = backend(() => new Response("other"));
    await using proxy = await startTestProxy(`/a -> ${down.url}\n/b -> ${other.url}`, { toml: toml(1, 60) });
    await fetch(proxy.url + "/a");
    await fetch(proxy.url + "/b");
    const origin = `http://127.0.0.1:${down.port}`;
    writeFileSync(proxy.project.conf, `/renamed -> ${down.url}\n/b -> ${other.url}\n`);
    await proxy.handle.reload();
    const kept = proxy.handle.state.breakers.snapshot()[origin]?.state;
    const stillRefused = (await fetch(proxy.url + "/renamed")).status;
    writeFileSync(proxy.project.conf, `/b -> ${other.url}\n`);
    await proxy.handle.reload();
    expect([kept, stillRefused, Object.keys(proxy.handle.state.breakers.snapshot())]).toEqual(["open", 503, [`http://127.0.0.1:${other.port}`]]);
  });

  test("resetAll closes every breaker so traffic flows again", async () => {
    using down = backend(() => new Response("down", { status: 503 }));
    await using proxy = await startTestProxy(`default -> ${down.url}`, { toml: toml(1, 60) });
    await fetch(proxy.url + "/");
    const refused = await (await fetch(proxy.url + "/")).text();
    proxy.handle.state.breakers.resetAll();
    const after = await fetch(proxy.url + "/");
    expect([refused, after.status, await after.text()]).toEqual(["Service Unavailable", 503, "down"]);
  });
});

describe("retries (SPEC §6.1)", () => {
  test("a dead backend among three costs GETs nothing: each failed connect is retried on the next target", async () => {
    using a = backend(() => new Response("a"));
    using c = backend(() => new Response("c"));
    const dead = deadPort();
    await using proxy = await startTestProxy(`/api/* -> ${a.url}, http://127.0.0.1:${dead}, ${c.url}`, {
      toml: "[circuit_breaker]\nfailure_threshold = 3\nrecovery_timeout_secs = 60\n",
    });
    const got: string[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await fetch(proxy.url + "/api/x", { method: i % 3 === 0 ? "HEAD" : "GET" });
      got.push(r.status === 200 ? "ok" : String(r.status));
    }
    // a POST without a body is as safe to retry as a GET
    const emptyPost = await fetch(proxy.url + "/api/x", { method: "POST" });
    expect([count(got), emptyPost.status, proxy.handle.state.breakers.snapshot()[`http://127.0.0.1:${dead}`]?.state]).toEqual([{ ok: 30 }, 200, "open"]);
  });

  test("a POST with a body is never retried: failure_threshold errors, then the breaker keeps it away", async () => {
    using a = backend((_req, seen) => new Response(`a ${seen.body.length}`));
    using c = backend((_req, seen) => new Response(`c ${seen.body.length}`));
    const dead = deadPort();
    await using proxy = await startTestProxy(`/api/* -> ${a.url}, http://127.0.0.1:${dead}, ${c.url}`, {
      toml: "[circuit_breaker]\nfailure_threshold = 3\nrecovery_timeout_secs = 60\n",
    });
    const got: string[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await fetch(proxy.url + "/api/x", { method: "POST", body: "hello" });
      got.push(r.status === 200 ? (await r.text()).slice(2) : String(r.status));
    }
    expect([count(got), got.slice(0, 3)]).toEqual([{ "5": 27, "502": 3 }, ["5", "502", "5"]]);
  });

  test("a GET that reached the backend is not retried when the answer fails", async () => {
    let hits = 0;
    using a = backend(() => {
      hits++;
      return new Response("a");
    });
    // A raw backend that accepts the request and drops the connection without a byte of answer.
    const { rawBackend } = await import("../support/backend.ts");
    await using reset = await rawBackend((_req, socket) => socket.destroy());
    await using proxy = await startTestProxy(`/api/* -> http://127.0.0.1:${reset.port}, ${a.url}`);
    const r = await fetch(proxy.url + "/api/x");
    expect([r.status, hits, reset.received.length]).toEqual([502, 0, 1]);
  });
});
