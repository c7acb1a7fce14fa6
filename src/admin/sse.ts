/**
 * Server-sent event streams of the admin listener (SPEC §11.2 `/events/*`, §18): a comment line
 * at once (so Bun sends the headers), a keep-alive comment every 15 s, and everything the stream
 * set up torn down when the client goes away. Open streams are counted so a test can see that a
 * vanished client leaves nothing behind.
 */
import type { Context } from "hono";
import type { AdminEnv } from "./port.ts";

const KEEP_ALIVE_MS = 15_000;
const encoder = new TextEncoder();

let open = 0;

/** Streams now open in this process (admin SSE only). */
export function openStreams(): number {
  return open;
}

export interface SseSink {
  /** Sends one event; `event` names it (omitted ⇒ a plain `message`). False once the stream is closed. */
  send(data: unknown, event?: string): boolean;
  /** Ends the stream from the server side (an operation finished); the client sees the end. */
  close(): void;
}

export type SseContext = Context<{ Bindings: AdminEnv }>;

/**
 * A `text/event-stream` response. `start` subscribes to whatever feeds the stream and returns the
 * function that unsubscribes; it runs when the client disconnects or the stream errors.
 */
export function sseResponse(c: SseContext, start: (sink: SseSink) => () => void): Response {
  // Streams live as long as the page: the listener's idle timer must not cut them.
  c.env?.server?.timeout(c.req.raw, 0);
  let stop: (() => void) | null = null;
  let keepAlive: ReturnType<typeof setInterval> | undefined;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    open--;
    clearInterval(keepAlive);
    stop?.();
    stop = null;
  };
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      open++;
      const write = (text: string): boolean => {
        if (closed) return false;
        try {
          controller.enqueue(encoder.encode(text));
          return true;
        } catch {
          close();
          return false;
        }
      };
      write(": connected\n\n");
      keepAlive = setInterval(() => write(": keep-alive\n\n"), KEEP_ALIVE_MS);
      const sink: SseSink = {
        send: (data, event) => write(`${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`),
        close: () => {
          if (closed) return;
          close();
          try {
            controller.close();
          } catch {
            // already closed by the client going away
          }
        },
      };
      const unsubscribe = start(sink);
      if (closed) unsubscribe();
      else stop = unsubscribe;
    },
    cancel: close,
  });
  c.req.raw.signal.addEventListener("abort", close, { once: true });
  return new Response(stream, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no" } });
}
