import { describe, expect, test } from "bun:test";
import net from "node:net";
import { backend, rawBackend } from "../support/backend.ts";
import { startTestProxy } from "../support/project.ts";
import { waitFor } from "../support/wait.ts";

const sha = (data: Uint8Array) => new Bun.CryptoHasher("sha256").update(data).digest("hex");

describe("streaming", () => {
  test("a 5 MB upload reaches the backend byte for byte", async () => {
    const payload = crypto.getRandomValues(new Uint8Array(5 * 1024 * 1024));
    using b = backend(async (_req, seen) =>
      Response.json({
        length: seen.body.length,
        sha: sha(seen.body),
        te: seen.headers["transfer-encoding"] ?? null,
        cl: seen.headers["content-length"] ?? null,
      }),
    );
    await using proxy = await startTestProxy(`default -> ${b.url}`);
    const res = await fetch(proxy.url + "/upload", { method: "POST", body: payload });
    expect(await res.json()).toEqual({ length: payload.length, sha: sha(payload), te: null, cl: String(payload.length) });
  });

  test("an upload of unknown length is sent chunked and arrives whole", async () => {
    const parts = Array.from({ length: 20 }, (_, i) => new Uint8Array(10_000).fill(i));
    using b = backend(async (_req, seen) => Response.json({ length: seen.body.length, te: seen.headers["transfer-encoding"] ?? null }));
    await using proxy = await startTestProxy(`default -> ${b.url}`);
    const body = new ReadableStream({
      async pull(c) {
        const next = parts.shift();
        if (next) c.enqueue(next);
        else c.close();
      },
    });
    const res = await fetch(proxy.url + "/up", { method: "POST", body, duplex: "half" } as RequestInit);
    expect(await res.json()).toEqual({ length: 200_000, te: "chunked" });
  });

  test("a large download streams through unchanged", async () => {
    const payload = crypto.getRandomValues(new Uint8Array(8 * 1024 * 1024));
    using b = backend(() => new Response(payload));
    await using proxy = await startTestProxy(`default -> ${b.url}`);
    const got = new Uint8Array(await (await fetch(proxy.url + "/big")).arrayBuffer());
    expect([got.length, sha(got)]).toEqual([payload.length, sha(payload)]);
  });

  test("the first chunk of a slow response reaches the client before the backend produces the last", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let lastSent = false;
    using b = backend(
      () =>
        new Response(
          new ReadableStream({
            async start(c) {
              c.enqueue(new TextEncoder().encode("first;"));
              await gate;
              lastSent = true;
              c.enqueue(new TextEncoder().encode("last"));
              c.close();
            },
          }),
        ),
    );
    await using proxy = await startTestProxy(`default -> ${b.url}`);
    const res = await fetch(proxy.url + "/slow");
    const reader = res.body!.getReader();
    const first = await reader.read();
    const firstText = new TextDecoder().decode(first.value);
    const sawFirstBeforeLast = !lastSent;
    release();
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
    expect([firstText, sawFirstBeforeLast, rest]).toEqual(["first;", true, "last"]);
  });

  test("a chunked response with many small chunks is reassembled in order", async () => {
    await using raw = await rawBackend((_req, s) => {
      let wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
      for (let i = 0; i < 200; i++) wire += `3\r\n${String(i).padStart(3, "0")}\r\n`;
      s.write(wire + "0\r\n\r\n");
    });
    await using proxy = await startTestProxy(`default -> http://127.0.0.1:${raw.port}`);
    const text = await (await fetch(proxy.url + "/")).text();
    expect(text).toBe(Array.from({ length: 200 }, (_, i) => String(i).padStart(3, "0")).join(""));
  });

  test("a client that disconnects aborts the upstream request", async () => {
    let upstreamClosed = false;
    await using raw = await rawBackend((_req, s) => {
      s.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"); // and never finishes
      s.on("close", () => (upstreamClosed = true));
    });
    await using proxy = await startTestProxy(`default -> http://127.0.0.1:${raw.port}`);
    const client = net.connect(proxy.handle.http.port, "127.0.0.1");
    client.write("GET /stream HTTP/1.1\r\nHost: h\r\n\r\n");
    await new Promise<void>((r) => client.once("data", () => r()));
    client.destroy();
    await waitFor(() => upstreamClosed, "the upstream connection to be closed after the client left");
    expect(upstreamClosed).toBe(true);
  });

  test("a client that disconnects while the backend is still thinking cancels the upstream request", async () => {
    let upstreamClosed = false;
    let requested = false;
    await using raw = await rawBackend((_req, s) => {
      requested = true; // never answers
      s.on("close", () => (upstreamClosed = true));
    });
    await using proxy = await startTestProxy(`default -> http://127.0.0.1:${raw.port}`);
    const client = net.connect(proxy.handle.http.port, "127.0.0.1");
    client.write("GET /think HTTP/1.1\r\nHost: h\r\n\r\n");
    await waitFor(() => requested, "the request to reach the backend");
    client.destroy();
    await waitFor(() => upstreamClosed, "the upstream request to be cancelled");
    expect(proxy.handle.state.inFlight).toBe(0);
  });
});
