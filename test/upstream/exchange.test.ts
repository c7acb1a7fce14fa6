import { describe, expect, test } from "bun:test";
import { endpointOf } from "../../src/lib/endpoint.ts";
import { Watch } from "../../src/state/watch.ts";
import { send, type UpstreamError } from "../../src/upstream/exchange.ts";
import { UpstreamPool } from "../../src/upstream/pool.ts";
import { rawBackend } from "../support/backend.ts";
import { waitFor } from "../support/wait.ts";

const endpointAt = (port: number) => endpointOf({ hostname: "127.0.0.1", port, secure: false });

function request(body: ReadableStream<Uint8Array> | null, bodyLength: number | null) {
  return {
    method: body ? "POST" : "GET",
    target: "/",
    headers: "host: h\r\n",
    body,
    bodyLength,
    maxBodySize: null,
    control: null,
    timeoutMs: 5000,
    watch: new Watch(100),
  };
}

function streamOf(...parts: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    pull(c) {
      const next = parts.shift();
      if (next === undefined) c.close();
      else c.enqueue(new TextEncoder().encode(next));
    },
  });
}

describe("upstream exchange request bodies", () => {
  test("never writes more body bytes than the Content-Length it announced", async () => {
    // The client side (Bun.serve) frames bodies itself; this is the last line of defence should a
    // body ever run past its declared length: the extra bytes would be a second request upstream.
    await using raw = await rawBackend(() => {});
    const pool = new UpstreamPool();
    const exchange = send(pool, endpointAt(raw.port), request(streamOf("abcd", "GET /smuggled HTTP/1.1\r\nhost: h\r\n\r\n"), 4));
    const failure = await exchange.then(
      () => null,
      (err: UpstreamError) => err,
    );
    // Once the connection is closed, nothing more can arrive.
    await waitFor(() => raw.closed === 1, "the upstream connection to close");
    expect([failure?.kind, raw.received[0]?.includes("smuggled"), raw.received[0]?.endsWith("content-length: 4\r\n\r\nabcd")]).toEqual([
      "aborted",
      false,
      true,
    ]);
  });
});

describe("upstream exchange response framing", () => {
  test("an invalid chunk line arriving with the head fails the exchange instead of leaving it unanswered", async () => {
    await using raw = await rawBackend((_req, s) => s.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n"));
    const outcome = await send(new UpstreamPool(), endpointAt(raw.port), request(null, null)).then(
      (res) => `answered ${res.status}`,
      (err: UpstreamError) => `${err.kind}: ${err.message}`,
    );
    expect(outcome).toBe('protocol: invalid response: invalid chunk size "zz"');
  });
});
