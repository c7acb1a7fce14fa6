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
  /** Header lines in order, names lower-cased, values trimmed. */
  headers: [string, string][];
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

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: ([^\r\n]*))?$/;

/** Parses `buf[0..end)`, a complete head ending in CRLF CRLF. Throws ProtocolError on garbage. */
export function parseHead(buf: Buffer, end: number): ResponseHead {
  const text = buf.toString("latin1", 0, end - 4);
  const lines = text.split("\r\n");
  const m = STATUS_LINE.exec(lines[0] ?? "");
  if (!m) throw new ProtocolError(`invalid status line ${JSON.stringify((lines[0] ?? "").slice(0, 80))}`);
  const headers: [string, string][] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new ProtocolError(`invalid header line ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon);
    // A name followed by whitespace, or a line starting with whitespace (obs-fold), is refused
    // (RFC 9112 §5.1, §5.2): both are classic response-splitting and smuggling vectors.
    if (!TOKEN.test(name)) throw new ProtocolError(`invalid header name ${JSON.stringify(name.slice(0, 80))}`);
    const value = line.slice(colon + 1).trim();
    if (/[\0\r\n]/.test(value)) throw new ProtocolError(`invalid character in header ${name}`);
    headers.push([name.toLowerCase(), value]);
  }
  return { version: m[1] === "0" ? 10 : 11, status: Number(m[2]), statusText: m[3] ?? "", headers };
}

export type Framing =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  /** Body ends when the connection closes; the connection cannot be reused. */
  | { kind: "close" };

/** RFC 9112 §6.3: how the body of this response is delimited. */
export function framing(head: ResponseHead, method: string): Framing {
  if (method === "HEAD" || head.status === 204 || head.status === 304 || (head.status >= 100 && head.status < 200)) {
    return { kind: "none" };
  }
  let te: string | null = null;
  let cl: string | null = null;
  for (const [name, value] of head.headers) {
    if (name === "transfer-encoding") te = te === null ? value : `${te}, ${value}`;
    else if (name === "content-length") {
      if (cl !== null && cl !== value) throw new ProtocolError("conflicting Content-Length headers");
      cl = value;
    }
  }
  if (te !== null) {
    const codings = te.toLowerCase().split(",").map((s) => s.trim());
    return codings[codings.length - 1] === "chunked" ? { kind: "chunked" } : { kind: "close" };
  }
  if (cl !== null) {
    // A list like "5, 5" is allowed when all members agree (RFC 9110 §8.6).
    const values = cl.split(",").map((s) => s.trim());
    if (!values.every((v) => /^\d{1,15}$/.test(v) && v === values[0])) throw new ProtocolError(`invalid Content-Length ${JSON.stringify(cl)}`);
    return { kind: "length", length: Number(values[0]) };
  }
  return { kind: "close" };
}

/** Whether the connection may carry another request after this response. */
export function keepAlive(head: ResponseHead, f: Framing): boolean {
  if (f.kind === "close") return false;
  let connection = "";
  for (const [name, value] of head.headers) if (name === "connection") connection += `${value.toLowerCase()},`;
  if (head.version === 10) return connection.includes("keep-alive");
  return !/(^|[\s,])close($|[\s,])/.test(connection);
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
