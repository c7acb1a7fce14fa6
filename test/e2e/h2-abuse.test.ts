/**
 * Issue 20, finding 7: HTTP/2 clients cannot multiply upstream work. A reset stream cancels its
 * upstream request at once, upstream connections per origin are capped (the rest wait), and one
 * client's streams count against limits.max_in_flight_per_client.
 */
import { describe, expect, test } from "bun:test";
import http2 from "node:http2";
import { startTestProxy } from "../support/project.ts";
import { waitFor } from "../support/wait.ts";

/** A backend that holds every request until `release()`, and records aborts and peer ports. */
function holdingBackend() {
  const gate = Promise.withResolvers<void>();
  const state = { arrived: 0, aborted: 0, abortedAt: [] as number[], ports: new Set<number>(), inFlight: 0, peak: 0 };
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 30,
    async fetch(req, srv) {
      state.arrived++;
      state.ports.add(srv.requestIP(req)!.port);
      state.peak = Math.max(state.peak, ++state.inFlight);
      req.signal.addEventListener("abort", () => {
        state.aborted++;
        state.abortedAt.push(performance.now());
      });
      await Promise.race([gate.promise, new Promise((r) => req.signal.addEventListener("abort", r))]);
      state.inFlight--;
      return new Response("released");
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, state, release: () => gate.resolve(), [Symbol.dispose]: () => server.stop(true) };
}

function h2Get(session: http2.ClientHttp2Session, path: string): { stream: http2.ClientHttp2Stream; answer: Promise<{ status: number; body: string }> } {
  const stream = session.request({ ":path": path });
  const answer = new Promise<{ status: number; body: string }>((resolve) => {
    let status = 0;
    let body = "";
    stream.on("response", (h) => (status = Number(h[":status"])));
    stream.on("data", (d) => (body += d));
    stream.on("close", () => resolve({ status, body }));
    stream.on("error", () => {});
  });
  return { stream, answer };
}

describe("HTTP/2 streams against the upstream (issue 20)", () => {
  test("a stream the client resets cancels its upstream request at once, not after the slow-request delay", async () => {
    using b = holdingBackend();
    await using proxy = await startTestProxy(`default -> ${b.url}\n`);
    const session = http2.connect(proxy.url);
    session.on("error", () => {});
    try {
      const { stream } = h2Get(session, "/held");
      await waitFor(() => b.state.arrived === 1, "the request at the backend");
      const resetAt = performance.now();
      stream.close(http2.constants.NGHTTP2_CANCEL);
      await waitFor(() => b.state.aborted === 1, "the backend's request to be cancelled", 3000, 5);
      // The slow-request watch looked only after 300 ms; a reset must not wait for it.
      expect(b.state.abortedAt[0]! - resetAt).toBeLessThan(200);
    } finally {
      session.destroy();
      b.release();
    }
  });

  test("upstream connections per origin stay under max_upstream_connections; the other streams wait and are then served", async () => {
    using b = holdingBackend();
    await using proxy = await startTestProxy(`default -> ${b.url}\n`, { toml: "[limits]\nmax_upstream_connections = 4\n" });
    const session = http2.connect(proxy.url);
    session.on("error", () => {});
    try {
      const calls = Array.from({ length: 20 }, (_, i) => h2Get(session, `/s${i}`).answer);
      await waitFor(() => b.state.arrived === 4, "four requests at the backend");
      await waitFor(() => proxy.handle.state.pool.queued === 16, "sixteen requests waiting for a connection");
      expect(b.state.arrived).toBe(4);
      b.release();
      const answers = await Promise.all(calls);
      expect(answers.every((a) => a.status === 200 && a.body === "released")).toBe(true);
      expect([b.state.arrived, b.state.peak <= 4, b.state.ports.size <= 4]).toEqual([20, true, true]);
    } finally {
      session.destroy();
    }
  });

  test("one client's streams beyond max_in_flight_per_client get 429", async () => {
    using b = holdingBackend();
    await using proxy = await startTestProxy(`default -> ${b.url}\n`, { toml: "[limits]\nmax_in_flight_per_client = 5\n" });
    const session = http2.connect(proxy.url);
    session.on("error", () => {});
    try {
      const calls = Array.from({ length: 8 }, (_, i) => h2Get(session, `/s${i}`).answer);
      await waitFor(() => b.state.arrived === 5, "five requests at the backend");
      b.release();
      const statuses = (await Promise.all(calls)).map((a) => a.status).sort();
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    } finally {
      session.destroy();
    }
  });
});
