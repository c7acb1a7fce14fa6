/**
 * Upstream bodies sent with their length (SPEC §5.7; issue 19 item 7). Bun.serve drops
 * Content-Length from every ReadableStream body and sends it chunked (oven-sh/bun#10507); a body
 * handed over as bytes keeps it. So a body whose Content-Length is at most
 * limits.buffer_response_max is read whole before the answer starts, as nginx's proxy_buffering
 * does. One still incomplete after WAIT_MS streams after all (what arrived, then the rest): a slow
 * upstream never holds the head of the answer back for long, nor runs into the client
 * connection's idle timeout.
 */

/** How long a body may take to arrive whole before it is streamed instead. */
const WAIT_MS = 1000;

/** A pending read that lost the race against the wait: the resumed stream continues with it. */
type Read = Promise<{ done: true; value?: Uint8Array } | { done: false; value: Uint8Array }>;

/** The two calls used of a ReadableStream's default reader. */
interface Reader {
  read(): Read;
  cancel(reason?: unknown): Promise<void>;
}

/**
 * The body as one Uint8Array of `length` bytes, or (slow, cut short or longer than announced) as
 * a stream carrying the same bytes. Never rejects.
 */
export async function wholeBody(stream: ReadableStream<Uint8Array>, length: number): Promise<Uint8Array | ReadableStream<Uint8Array>> {
  const reader: Reader = stream.getReader();
  const whole = new Uint8Array(length);
  let at = 0;
  let timer: Timer | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(resolve, WAIT_MS, null);
  });
  try {
    for (;;) {
      const read: Read = reader.read();
      let result: Awaited<Read> | null;
      try {
        result = await Promise.race([read, late]);
      } catch {
        // Cut short by the upstream: relayed as a stream that breaks off where the body did, the
        // answer a streamed body gets (a 200 without its end, SPEC §6.2), not a new status.
        return resumed(reader, whole.subarray(0, at), read);
      }
      if (result === null) return resumed(reader, whole.subarray(0, at), read);
      if (result.done) break;
      const chunk = result.value;
      // More than announced cannot come through the exchange's framing; if it did, nothing is lost.
      if (at + chunk.length > length) return resumed(reader, Buffer.concat([whole.subarray(0, at), chunk]), null);
      whole.set(chunk, at);
      at += chunk.length;
    }
  } finally {
    clearTimeout(timer);
  }
  return at === length ? whole : whole.subarray(0, at);
}

/** What was read so far, then the rest of the reader, with the reader's backpressure. */
function resumed(reader: Reader, head: Uint8Array, pending: Read | null): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (head.length > 0) controller.enqueue(head);
    },
    async pull(controller) {
      const result = await (pending ?? reader.read());
      pending = null;
      if (result.done) controller.close();
      else controller.enqueue(result.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}
