/**
 * Hand-made HTTP/2 frames (RFC 9113) with HPACK literals (RFC 7541, no Huffman, no indexing), for
 * requests no HTTP/2 client library will send: CR/LF in field values, upper-case names, a body
 * longer than its content-length. Prior-knowledge h2c on a plain port.
 */
import net from "node:net";

export const enum FrameType {
  Data = 0,
  Headers = 1,
  RstStream = 3,
  Settings = 4,
  GoAway = 7,
}
export const END_STREAM = 0x1;
export const END_HEADERS = 0x4;

export function frame(type: FrameType, flags: number, stream: number, payload: Uint8Array = new Uint8Array()): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

function str(text: string): Buffer {
  const bytes = Buffer.from(text, "latin1");
  if (bytes.length > 126) throw new Error("field too long for a one-byte HPACK length");
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

/** A request header block: `:method`, `:scheme http`, `:path`, `:authority`, then `fields` as literals. */
export function requestBlock(method: string, path: string, authority: string, fields: [string, string][] = []): Buffer {
  // Literal without indexing, indexed name (RFC 7541 §6.2.2): 0000 + static index 2/4/1; 0x86 is `:scheme: http`.
  const parts = [Buffer.from([0x02]), str(method), Buffer.from([0x86, 0x04]), str(path), Buffer.from([0x01]), str(authority)];
  for (const [name, value] of fields) parts.push(Buffer.from([0x00]), str(name), str(value));
  return Buffer.concat(parts);
}

export interface H2Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/**
 * Opens an h2c connection (preface + empty SETTINGS), sends `frames`, and collects the frames the
 * server sends back until stream 1 ends (reset, or a frame with END_STREAM), the connection goes
 * away, or `timeoutMs` passes.
 */
export function h2Exchange(port: number, frames: Buffer[], timeoutMs = 1000): Promise<H2Frame[]> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frame(FrameType.Settings, 0, 0), ...frames]));
    });
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(parseFrames(Buffer.concat(chunks)));
    };
    const timer = setTimeout(done, timeoutMs);
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      if (parseFrames(Buffer.concat(chunks)).some(endsStream1)) done();
    });
    socket.on("close", done);
    socket.on("error", () => {});
  });
}

function endsStream1(f: H2Frame): boolean {
  return f.type === FrameType.GoAway || (f.stream === 1 && (f.type === FrameType.RstStream || (f.flags & END_STREAM) !== 0));
}

function parseFrames(buf: Buffer): H2Frame[] {
  const out: H2Frame[] = [];
  for (let i = 0; i + 9 <= buf.length; ) {
    const length = buf.readUIntBE(i, 3);
    out.push({ type: buf[i + 3]!, flags: buf[i + 4]!, stream: buf.readUInt32BE(i + 5) & 0x7fffffff, payload: buf.subarray(i + 9, i + 9 + length) });
    i += 9 + length;
  }
  return out;
}

/** What the server did with stream 1: "response" (HEADERS), "reset" (RST_STREAM) or "nothing". */
export function streamOutcome(frames: H2Frame[], stream = 1): "response" | "reset" | "nothing" {
  for (const f of frames) {
    if (f.stream !== stream) continue;
    if (f.type === FrameType.Headers) return "response";
    if (f.type === FrameType.RstStream) return "reset";
  }
  return "nothing";
}
