import { describe, expect, test } from "bun:test";
import pino from "pino";
import { errorResponse, ProxyError } from "../../src/proxy/errors.ts";

/** A real pino logger writing its JSON lines into an array. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: "info", base: null, timestamp: false }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { log, lines };
}

async function answer(err: unknown, method = "GET") {
  const { log, lines } = capture();
  const res = errorResponse(err, method, { id: "r1" }, log);
  return {
    status: res.status,
    body: await res.text(),
    length: res.headers.get("content-length"),
    lines: lines.map(({ level, msg, ...rest }) => [level, msg, rest]),
  };
}

describe("answers the proxy makes from a ProxyError (SPEC §5.9, issue 20)", () => {
  test("a status's own body unless one is given, the cause kept, and one log line saying why", async () => {
    const reset = new Error("connection reset");
    const gone = new ProxyError(499, "client", "client went away (GET /x)", { body: "", cause: reset });
    const stalled = new ProxyError(408, "client", "client did not finish sending its body before request_timeout (PUT /up)", { cause: reset });
    const upstream = new ProxyError(502, "upstream", "http://127.0.0.1:9: connection reset");
    const teapot = new ProxyError(418, "client", "no default body for this status");
    expect([gone.cause, stalled.cause, "cause" in upstream, [gone.body, stalled.body, upstream.body, teapot.body]]).toEqual([
      reset,
      reset,
      false,
      ["", "Request Timeout", "Bad Gateway", "Error"],
    ]);
    expect([await answer(gone), await answer(stalled), await answer(upstream, "HEAD"), await answer(new TypeError("bug"))]).toEqual([
      { status: 499, body: "", length: "0", lines: [] },
      {
        status: 408,
        body: "Request Timeout",
        length: "15",
        lines: [[30, "request refused", { req_id: "r1", status: 408, reason: "client did not finish sending its body before request_timeout (PUT /up)" }]],
      },
      { status: 502, body: "", length: "11", lines: [[40, "proxy error", { req_id: "r1", err: "http://127.0.0.1:9: connection reset" }]] },
      {
        status: 500,
        body: "Internal Server Error",
        length: "21",
        lines: [[50, "unexpected error while handling a request", { req_id: "r1", err: expect.objectContaining({ message: "bug", type: "TypeError" }) }]],
      },
    ]);
  });
});
