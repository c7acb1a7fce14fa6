/** Raw HTTP over a socket: for requests fetch() would refuse to send, and exact response bytes. */
import net from "node:net";

/** Sends `bytes`, returns everything received until the server closes or `timeoutMs` passes. */
export function rawRequest(port: number, bytes: string | Uint8Array, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve) => {
    let out = "";
    const socket = net.connect(port, "127.0.0.1", () => socket.write(bytes));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(out);
    }, timeoutMs);
    socket.on("data", (d) => (out += d.toString("latin1")));
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(out);
    });
    socket.on("error", () => {});
  });
}

/** The status code of a raw HTTP/1.1 response text, or 0 when there is none. */
export function statusOf(response: string): number {
  return Number(/^HTTP\/1\.[01] (\d{3})/.exec(response)?.[1] ?? 0);
}

/**
 * Sends `bytes` and reports what came back and whether the server closed the connection before
 * `timeoutMs` (false means it was still open and the client hung up).
 */
export function rawExchange(port: number, bytes: string | Uint8Array, timeoutMs = 2000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    let text = "";
    const socket = net.connect(port, "127.0.0.1", () => socket.write(typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false });
    }, timeoutMs);
    socket.on("data", (d) => (text += d.toString("latin1")));
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
    socket.on("error", () => {});
  });
}
