/**
 * HTTP/1.1 wire format for the upstream side (RFC 9112): parsing a response head, choosing how
 * its body is framed, and decoding chunked bodies. Pure functions and a small state machine, no
 * sockets, so hostile or broken backends can be tested byte by byte.
 */

export const MAX_HEAD_BYTES = 64 * 1024;

export interface ResponseHead {
  /** 10 for HTTP/1.0, 11 for HTTP/1.1. */
  version: 10 | 11;
  status: number;
  statusText: string;
  /** Header lines in order as name, value, name, value…: names lower-cased, values trimmed. Flat, so a head is one array, not one per line. */
  headers: string[];
  /** The framing and connection headers, gathered while parsing (null when absent). */
  transferEncoding: string | null;
  contentLength: string | null;
  connection: string | null;
  /** Filled in by the exchange when the head goes to its caller: the body (bytes or a stream). */
  body: Uint8Array | ReadableStream<Uint8Array> | null;
  /** Filled in by the exchange: the request went over a kept-alive connection. */
  reused: boolean;
}

export class ProtocolError extends Error {
  override name = "ProtocolError";
}

const CRLFCRLF = Buffer.from("\r\n\r\n");

/** Index just past the blank line ending the head, or -1 when the head is not complete yet. */
export function headEnd(buf: Buffer): number {
  const i = buf.indexOf(CRLFCRLF);
  return i < 0 ? -1 : i + 4;
}

/** Bytes → string one char per byte; Bun's latin1Slice skips toString's argument handling. */
const latin1: (buf: Buffer, end: number) => string =
  typeof (Buffer.prototype as { latin1Slice?: unknown }).latin1Slice === "function"
    ? (buf, end) => (buf as unknown as { latin1Slice(start: number, end: number): string }).latin1Slice(0, end)
    : (buf, end) => buf.toString("latin1", 0, end);

/** RFC 9110 §5.6.2 token characters, as a lookup table over ASCII. */
const TOKEN_CHARS = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TOKEN_CHARS[c.charCodeAt(0)] = 1;

/**
 * Parses `buf[0..end)`, a complete head ending in CRLF CRLF. Throws ProtocolError on garbage.
 * Runs once per proxied request, so it scans with indexOf and char codes rather than regexes.
 */
export function parseHead(buf: Buffer, end: number): ResponseHead {
  const text = latin1(buf, end - 4);
  let eol = text.indexOf("\r\n");
  if (eol < 0) eol = text.length;
  // Status line: HTTP/1.x SP 3DIGIT [SP reason]
  if (!text.startsWith("HTTP/1.") || eol < 12 || text.charCodeAt(8) !== 32 || (eol > 12 && text.charCodeAt(12) !== 32)) {
    throw new ProtocolError(`invalid status line ${JSON.stringify(text.slice(0, Math.min(eol, 80)))}`);
  }
  const minor = text.charCodeAt(7);
  const status = digitsAt(text, 9);
  if ((minor !== 48 && minor !== 49) || !(status >= 100 && status <= 999)) {
    throw new ProtocolError(`invalid status line ${JSON.stringify(text.slice(0, Math.min(eol, 80)))}`);
  }
  const head: ResponseHead = {
    version: minor === 48 ? 10 : 11,
    status,
    statusText: eol <= 13 ? "" : text.startsWith("OK", 13) && eol === 15 ? "OK" : text.slice(13, eol),
    headers: [],
    transferEncoding: null,
    contentLength: null,
    connection: null,
    body: null,
    reused: false,
  };
  let pos = eol + 2;
  while (pos < text.length) {
    let next = text.indexOf("\r\n", pos);
    if (next < 0) next = text.length;
    const colon = text.indexOf(":", pos);
    if (colon <= pos || colon > next) throw new ProtocolError(`invalid header line ${JSON.stringify(text.slice(pos, Math.min(next, pos + 80)))}`);
    // A name with whitespace or other non-token bytes, or a line starting with whitespace
    // (obs-fold), is refused (RFC 9112 §5.1, §5.2): both are response-splitting vectors.
    let hash = 0x811c9dc5;
    for (let i = pos; i < colon; i++) {
      const c = text.charCodeAt(i);
      if (c > 127 || TOKEN_CHARS[c] === 0) throw new ProtocolError(`invalid header name ${JSON.stringify(text.slice(pos, colon))}`);
      hash = Math.imul(hash ^ (c | 0x20), 0x01000193);
    }
    let vs = colon + 1;
    let ve = next;
    while (vs < ve && (text.charCodeAt(vs) === 32 || text.charCodeAt(vs) === 9)) vs++;
    while (ve > vs && (text.charCodeAt(ve - 1) === 32 || text.charCodeAt(ve - 1) === 9)) ve--;
    const name = knownName(text, pos, colon, hash) ?? text.slice(pos, colon).toLowerCase();
    // The framing values nearly every response sends need no string of their own.
    const value =
      ve - vs === 10 && text.startsWith("keep-alive", vs) ? "keep-alive" : ve - vs === 7 && text.startsWith("chunked", vs) ? "chunked" : text.slice(vs, ve);
    if (value.indexOf("\n") >= 0 || value.indexOf("\r") >= 0 || value.indexOf("\0") >= 0) throw new ProtocolError(`invalid character in header ${name}`);
    head.headers.push(name, value);
    if (name === "content-length") {
      if (head.contentLength !== null && head.contentLength !== value) throw new ProtocolError("conflicting Content-Length headers");
      head.contentLength = value;
    } else if (name === "transfer-encoding") head.transferEncoding = head.transferEncoding === null ? value : `${head.transferEncoding}, ${value}`;
    else if (name === "connection") head.connection = head.connection === null ? value : `${head.connection}, ${value}`;
    pos = next + 2;
  }
  return head;
}

/** The three status digits at `at`, or NaN. */
function digitsAt(text: string, at: number): number {
  let n = 0;
  for (let i = at; i < at + 3; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return Number.NaN;
    n = n * 10 + d;
  }
  return n;
}

/**
 * Header names most responses carry, found by a case-folded hash of the bytes: a known name costs
 * no string of its own (the shared lower-case one is used), an unknown one is sliced as before.
 */
const KNOWN_NAMES = new Map<number, string>();
for (const name of [
  "server",
  "date",
  "content-type",
  "content-length",
  "connection",
  "keep-alive",
  "transfer-encoding",
  "cache-control",
  "etag",
  "last-modified",
  "expires",
  "vary",
  "location",
  "set-cookie",
  "content-encoding",
  "accept-ranges",
  "age",
  "access-control-allow-origin",
  "strict-transport-security",
  "x-content-type-options",
  "x-frame-options",
  "pragma",
  "content-security-policy",
  "referrer-policy",
  "x-powered-by",
  "via",
  "content-disposition",
  "content-language",
]) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  KNOWN_NAMES.set(hash, name);
}

function knownName(text: string, start: number, end: number, hash: number): string | undefined {
  const name = KNOWN_NAMES.get(hash);
  if (name === undefined || name.length !== end - start) return undefined;
  // Token characters only (checked above): OR 0x20 folds exactly the letters.
  for (let i = 0; i < name.length; i++) if ((text.charCodeAt(start + i) | 0x20) !== name.charCodeAt(i)) return undefined;
  return name;
}

export type Framing =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  /** Body ends when the connection closes; the connection cannot be reused. */
  | { kind: "close" };

const NONE: Framing = { kind: "none" };
const CHUNKED: Framing = { kind: "chunked" };
const CLOSE: Framing = { kind: "close" };

/** RFC 9112 §6.3: how the body of this response is delimited. */
export function framing(head: ResponseHead, method: string): Framing {
  if (method === "HEAD" || head.status === 204 || head.status === 304 || (head.status >= 100 && head.status < 200)) return NONE;
  const te = head.transferEncoding;
  if (te !== null) {
    const last = te
      .slice(te.lastIndexOf(",") + 1)
      .trim()
      .toLowerCase();
    return last === "chunked" ? CHUNKED : CLOSE;
  }
  const cl = head.contentLength;
  if (cl !== null) {
    if (isDigits(cl)) return { kind: "length", length: Number(cl) };
    // A list like "5, 5" is allowed when all members agree (RFC 9110 §8.6).
    const values = cl.split(",").map((s) => s.trim());
    if (!values.every((v) => isDigits(v) && v === values[0])) throw new ProtocolError(`invalid Content-Length ${JSON.stringify(cl)}`);
    return { kind: "length", length: Number(values[0]) };
  }
  return CLOSE;
}

function isDigits(s: string): boolean {
  if (s.length === 0 || s.length > 15) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Whether the connection may carry another request after this response. */
export function keepAlive(head: ResponseHead, f: Framing): boolean {
  if (f.kind === "close") return false;
  const connection = head.connection;
  if (connection === null) return head.version === 11;
  // The common answers, without splitting.
  if (connection === "keep-alive" || connection === "Keep-Alive") return true;
  if (connection === "close" || connection === "Close") return false;
  const tokens = connection
    .toLowerCase()
    .split(",")
    .map((t) => t.trim());
  if (head.version === 10) return tokens.includes("keep-alive");
  return !tokens.includes("close");
}

const enum ChunkState {
  Size,
  Data,
  DataEnd,
  Trailers,
  Done,
}

/**
 * Incremental chunked-body decoder. `push` hands decoded data to `onData` and returns the number
 * of input bytes consumed; when it returns less than the input length the body ended there and
 * the remaining bytes belong to whatever follows (and make the connection unusable).
 */
export class ChunkedDecoder {
  private state = ChunkState.Size;
  private remaining = 0;
  private line = "";

  get done(): boolean {
    return this.state === ChunkState.Done;
  }

  push(buf: Uint8Array, onData: (data: Uint8Array) => void): number {
    let i = 0;
    while (i < buf.length && this.state !== ChunkState.Done) {
      switch (this.state) {
        case ChunkState.Data: {
          const n = Math.min(this.remaining, buf.length - i);
          onData(buf.subarray(i, i + n));
          i += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = ChunkState.DataEnd;
          break;
        }
        case ChunkState.DataEnd:
        case ChunkState.Size:
        case ChunkState.Trailers: {
          const lf = buf.indexOf(10, i);
          const stop = lf < 0 ? buf.length : lf + 1;
          this.line += Buffer.from(buf.buffer, buf.byteOffset + i, stop - i).toString("latin1");
          i = stop;
          if (this.line.length > 4096) throw new ProtocolError("chunk header line too long");
          if (lf < 0) break;
          if (!this.line.endsWith("\r\n")) throw new ProtocolError("chunk line not terminated by CRLF");
          const line = this.line.slice(0, -2);
          this.line = "";
          this.onLine(line);
        }
      }
    }
    return i;
  }

  private onLine(line: string): void {
    if (this.state === ChunkState.DataEnd) {
      if (line !== "") throw new ProtocolError("missing CRLF after chunk data");
      this.state = ChunkState.Size;
    } else if (this.state === ChunkState.Size) {
      const semi = line.indexOf(";");
      const hex = semi < 0 ? line : line.slice(0, semi);
      if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw new ProtocolError(`invalid chunk size ${JSON.stringify(line.slice(0, 40))}`);
      this.remaining = parseInt(hex, 16);
      this.state = this.remaining === 0 ? ChunkState.Trailers : ChunkState.Data;
    } else if (this.state === ChunkState.Trailers) {
      // Trailer fields are not forwarded: Bun.serve cannot send them, and they are optional.
      if (line === "") this.state = ChunkState.Done;
    }
  }
}

/** Frames one piece of a request body in chunked encoding. */
export function chunk(data: Uint8Array): Uint8Array {
  const head = Buffer.from(`${data.length.toString(16)}\r\n`, "latin1");
  const out = new Uint8Array(head.length + data.length + 2);
  out.set(head, 0);
  out.set(data, head.length);
  out[out.length - 2] = 13;
  out[out.length - 1] = 10;
  return out;
}

export const LAST_CHUNK = Buffer.from("0\r\n\r\n", "latin1");
