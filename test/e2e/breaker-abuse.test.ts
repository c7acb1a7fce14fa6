/**
 * Issue 20, finding 4: clients cannot open a backend's circuit breaker or hold its half_open probe
 * by stalling their uploads, and one client cannot fill the proxy with its requests.
 */
import { describe, expect, test } from "bun:test";
import net from "node:net";
import { backend } from "../support/backend.ts";
import { startTestProxy } from "../support/project.ts";
import { rawRequest, statusOf } from "../support/raw.ts";
import { waitFor } from "../support/wait.ts";

/** A POST that announces 100 bytes and sends 1, then waits; resolves with the status it got. */
function stalledUpload(port: number, path = "/upload"): { socket: net.Socket; status: Promise<number> } {
  let text = "";
  const socket = net.connect(port, "127.0.0.1", () => socket.write(`POST ${path} HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100\r\n\r\nx`));
  const status = new Promise<number>((resolve) => {
    socket.on("data", (d) => {
      text += d.toString("latin1");
      if (/\r\n\r\n/.test(text)) resolve(statusOf(text));
    });
    socket.on("close", () => resolve(statusOf(text)));
    socket.on("error", () => {});
  });
  return { socket, status };
}

// Concurrent (issue 19): both wait out request_timeout and the recovery window, each on its own
// proxy. The max_upstream_connections test below stays serial: it races its own timeouts.
describe.concurrent("circuit breakers judge the upstream only (SPEC §6.2)", () => {
  test("five stalled uploads end in 408 and leave the breaker closed for everyone", async () => {
    using b = backend();
    await using proxy = await startTestProxy(`default -> ${b.url}\n`, { toml: "[limits]\nrequest_timeout = 1\n" });
    const port = proxy.handle.http.port;
    const uploads = Array.from({ length: 5 }, () => stalledUpload(port));
    const statuses = await Promise.all(uploads.map((u) => u.status));
    for (const u of uploads) u.socket.destroy();
    expect(statuses).toEqual([408, 408, 408, 408, 408]);
    expect(proxy.handle.state.breakers.snapshot()[b.url]?.state).toBe("closed");
    expect((await fetch(`${proxy.url}/after`)).status).toBe(200);
  });

  test("a stalled upload cannot hold the half_open probe: a request without a body takes it and closes the breaker", async () => {
    let failing = true;
    using b = backend((_req, _seen) => new Response(failing ? "down" : "up", { status: failing ? 503 : 200 }));
    await using proxy = await startTestProxy(`default -> ${b.url}\n`, {
      toml: "[limits]\nrequest_timeout = 5\n\n[circuit_breaker]\nfailure_threshold = 2\nrecovery_timeout_secs = 1\nsuccess_threshold = 1\n",
    });
    const port = proxy.handle.http.port;
    for (let i = 0; i < 2; i++) expect((await fetch(`${proxy.url}/x`)).status).toBe(503);
    const breakers = proxy.handle.state.breakers;
    expect(breakers.snapshot()[b.url]?.state).toBe("open");
    failing = false;
    // Once the recovery time passed, the stalled upload is first and becomes the probe.
    const upload = await waitFor(
      async () => {
        const attempt = stalledUpload(port);
        // Either the breaker answers it (503 while still open) or its grant turns the breaker
        // half_open (nothing else asks): then it holds the probe and has no answer.
        let answered = false;
        void attempt.status.then(() => (answered = true));
        await waitFor(() => answered || breakers.snapshot()[b.url]?.state === "half_open", "an answer or the half_open grant", 2000, 5);
        if (!answered && breakers.snapshot()[b.url]?.state === "half_open") return attempt;
        attempt.socket.destroy();
        return null;
      },
      "a stalled upload to hold the half_open probe",
      5000,
      50,
    );
    const started = performance.now();
    const res = await fetch(`${proxy.url}/y`);
    expect([res.status, await res.text()]).toEqual([200, "up"]);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(breakers.snapshot()[b.url]?.state).toBe("closed");
    upload.socket.destroy();
  });
});

describe("limits.max_upstream_connections", () => {
  test("requests that waited for a free connection until request_timeout get 504 but are no breaker failures", async () => {
    // The one connection is held by a response whose head came at once and whose body streams
    // until the gate opens: request_timeout ends at the head (SPEC §5.10), so the holder never
    // times out and the connection is never freed while the others wait.
    const gate = Promise.withResolvers<void>();
    let arrived = 0;
    using b = backend(() => {
      arrived++;
      const body = new ReadableStream({
        async start(controller) {
          controller.enqueue(new TextEncoder().encode("first;"));
          await gate.promise;
          controller.enqueue(new TextEncoder().encode("last"));
          controller.close();
        },
      });
      return new Response(body);
    });
    await using proxy = await startTestProxy(`default -> ${b.url}\n`, {
      toml: "[limits]\nrequest_timeout = 1\nmax_upstream_connections = 1\n\n[circuit_breaker]\nfailure_threshold = 3\n",
    });
    const holder = await fetch(`${proxy.url}/hold`);
    const statuses = await Promise.all(Array.from({ length: 5 }, (_, i) => fetch(`${proxy.url}/w${i}`).then((r) => r.status)));
    gate.resolve();
    expect([holder.status, await holder.text()]).toEqual([200, "first;last"]);
    expect([statuses, arrived, proxy.handle.state.pool.queued]).toEqual([[504, 504, 504, 504, 504], 1, 0]);
    expect(proxy.handle.state.breakers.snapshot()[b.url]).toMatchObject({ state: "closed", consecutive_failures: 0 });
  });
});

describe("limits.max_in_flight_per_client", () => {
  test("a client above its in-flight limit gets 429 with Retry-After, and the held requests still complete", async () => {
    const gate = Promise.withResolvers<void>();
    let arrived = 0;
    using b = backend(async () => {
      arrived++;
      await gate.promise;
      return new Response("done");
    });
    await using proxy = await startTestProxy(`default -> ${b.url}\n`, { toml: "[limits]\nmax_in_flight_per_client = 2\n" });
    const held = [fetch(`${proxy.url}/1`), fetch(`${proxy.url}/2`)];
    await waitFor(() => arrived === 2, "two requests at the backend");
    const third = await rawRequest(proxy.handle.http.port, "GET /3 HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n");
    expect(statusOf(third)).toBe(429);
    expect(third.toLowerCase()).toContain("retry-after: 1");
    gate.resolve();
    expect(await Promise.all(held.map(async (r) => (await r).status))).toEqual([200, 200]);
    expect((await fetch(`${proxy.url}/4`)).status).toBe(200);
    expect(arrived).toBe(3);
  });
});
