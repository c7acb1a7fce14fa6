import { describe, expect, test } from "bun:test";
import { ChunkedDecoder, chunk, framing, headEnd, keepAlive, parseHead, ProtocolError } from "../../src/upstream/http1.ts";

const head = (text: string) => {
  const buf = Buffer.from(text, "latin1");
  return parseHead(buf, headEnd(buf));
};

describe("upstream response head", () => {
  test("status line, reason and headers are parsed with names lower-cased and values trimmed", () => {
    expect(head("HTTP/1.1 404 Not Found\r\nX-A:  1 \r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n")).toEqual({
      version: 11,
      status: 404,
      statusText: "Not Found",
      headers: ["x-a", "1", "set-cookie", "a=1", "set-cookie", "b=2"],
      transferEncoding: null,
      contentLength: null,
      connection: null,
      body: null,
      reused: false,
    });
  });

  test("garbage, obs-fold and a space before the colon are protocol errors", () => {
    for (const bad of [
      "HTTP/2 200 OK\r\n\r\n",
      "hello\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: 1\r\n folded\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX : 1\r\n\r\n",
      "HTTP/1.1 20 OK\r\n\r\n",
    ]) {
      expect(() => head(bad)).toThrow(ProtocolError);
    }
  });

  test("the head is incomplete until the blank line arrives", () => {
    expect(headEnd(Buffer.from("HTTP/1.1 200 OK\r\nX: 1\r\n"))).toBe(-1);
  });
});

describe("response framing (RFC 9112 §6.3)", () => {
  const f = (text: string, method = "GET") => framing(head(text), method);
  test("HEAD, 204 and 304 have no body whatever they announce", () => {
    expect([
      f("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD"),
      f("HTTP/1.1 204 No Content\r\n\r\n"),
      f("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"),
    ]).toEqual([{ kind: "none" }, { kind: "none" }, { kind: "none" }]);
  });
  test("chunked wins over Content-Length, and a non-chunked coding reads until close", () => {
    expect([f("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), f("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")]).toEqual([
      { kind: "chunked" },
      { kind: "close" },
    ]);
  });
  test("conflicting or invalid Content-Length values are refused; agreeing duplicates are one", () => {
    expect(() => f("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")).toThrow("conflicting");
    expect(() => f("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n")).toThrow("invalid Content-Length");
    expect(f("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n")).toEqual({ kind: "length", length: 5 });
  });
  test("keep-alive follows the version and Connection header", () => {
    const ka = (text: string) => keepAlive(head(text), framing(head(text), "GET"));
    expect([
      ka("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
      ka("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
      ka("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
      ka("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"),
      ka("HTTP/1.1 200 OK\r\n\r\n"),
    ]).toEqual([true, false, false, true, false]);
  });
});

describe("chunked decoding", () => {
  const decode = (pieces: string[]) => {
    const d = new ChunkedDecoder();
    let out = "";
    let leftover = "";
    for (const p of pieces) {
      const buf = Buffer.from(p, "latin1");
      const used = d.push(buf, (data) => (out += Buffer.from(data).toString("latin1")));
      if (used < buf.length) leftover += p.slice(used);
    }
    return { out, done: d.done, leftover };
  };
  test("chunks split anywhere decode to the same bytes, extensions and trailers ignored", () => {
    const wire = "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n";
    const whole = decode([wire]);
    const bytewise = decode([...wire]);
    expect(whole).toEqual({ out: "hello world", done: true, leftover: "" });
    expect(bytewise).toEqual(whole);
  });
  test("bytes after the last chunk are reported as leftover", () => {
    expect(decode(["2\r\nok\r\n0\r\n\r\nHTTP/1.1 200"])).toEqual({ out: "ok", done: true, leftover: "HTTP/1.1 200" });
  });
  test("invalid sizes and missing CRLF are protocol errors", () => {
    for (const bad of ["zz\r\n", "-1\r\n", "5\r\nhelloXX", "1000000000000000\r\n", "5\nhello"]) {
      expect(() => decode([bad + "\r\n"])).toThrow(ProtocolError);
    }
  });
  test("encoding frames data with its hex length", () => {
    expect(Buffer.from(chunk(new Uint8Array(26).fill(97))).toString()).toBe(`1a\r\n${"a".repeat(26)}\r\n`);
  });
});
