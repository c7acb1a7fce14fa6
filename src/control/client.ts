/**
 * A client for a running proxy's admin API over run/control.sock (SPEC §15.2): HTTP/1.1 on a unix
 * socket, no credentials (the socket is 0600 in a 0700 directory). For the lifecycle commands
 * (SPEC §16.1) and the TUI (§16.5), which must tell "no proxy runs here" (ControlUnavailable: act
 * standalone) from "the proxy said no" (ControlError: print it, exit 1).
 */
import { join } from "node:path";
import { locateRunDir } from "../lib/run-location.ts";

/** control.sock in the run dir of a proxy.conf (SPEC §1; `--run-dir` or `[server] run_dir` move it). */
export function controlSocketPath(confPath: string, runDir?: string | null): string {
  return join(locateRunDir(confPath, runDir), "control.sock");
}

/** No proxy answers on the socket: missing, refused, or timed out before any answer. */
export class ControlUnavailable extends Error {
  override name = "ControlUnavailable";
}

/** The proxy answered with an error envelope; `message` is its `error` text. */
export class ControlError extends Error {
  override name = "ControlError";
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
  }
}

/** The proxy answered, then the connection ended before the operation's outcome arrived. */
export class ControlLost extends Error {
  override name = "ControlLost";
}

/** One server-sent event: its `event:` name (`message` when absent) and parsed `data:` JSON. */
export interface StreamEvent {
  event: string;
  data: unknown;
}

export interface ControlResponse {
  status: number;
  /** The parsed JSON envelope, or the text for non-JSON answers (metrics). */
  body: unknown;
}

export class ControlClient {
  constructor(
    readonly socketPath: string,
    /** Default time limit per request; deploys pass their own (SPEC §16.1: 600 s). */
    private readonly timeoutMs = 5000,
  ) {}

  /** Sends one request to `/api/v1/<path>`; throws ControlUnavailable when nothing answers. */
  async request(method: string, path: string, body?: unknown, opts: { timeoutMs?: number } = {}): Promise<ControlResponse> {
    const url = `http://localhost/api/v1/${path.replace(/^\/+/, "")}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        unix: this.socketPath,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(opts.timeoutMs ?? this.timeoutMs),
        // Bun's own idle timer (5 min) must not cut a deploy that is still running (SPEC §16.1).
        timeout: false,
      } as RequestInit);
    } catch (err) {
      throw new ControlUnavailable(`no soli-proxy answers on ${this.socketPath}: ${(err as Error).message}`);
    }
    const text = await res.text();
    const json = (res.headers.get("content-type") ?? "").includes("application/json");
    return { status: res.status, body: json && text !== "" ? JSON.parse(text) : text };
  }

  /** The `data` of a successful answer; an error envelope becomes a ControlError. */
  async call<T = unknown>(method: string, path: string, body?: unknown, opts: { timeoutMs?: number } = {}): Promise<T> {
    const { status, body: answer } = await this.request(method, path, body, opts);
    const envelope = answer as { ok?: boolean; data?: T; error?: string };
    if (status >= 400 || envelope?.ok === false) throw new ControlError(status, envelope?.error ?? `HTTP ${status}`, answer);
    return (typeof answer === "object" && answer !== null && "data" in envelope ? envelope.data : answer) as T;
  }

  /**
   * POSTs asking for the SSE form (SPEC §11.2) and hands each event to `onEvent` as it comes.
   * Resolves with the `done` data; an `error` event or an error answer is a ControlError; a stream
   * that ends without either is ControlLost. `signal` (a deadline, Ctrl-C) ends the wait.
   */
  async postStream<T = unknown>(path: string, onEvent: (e: StreamEvent) => void, signal: AbortSignal): Promise<T> {
    const url = `http://localhost/api/v1/${path.replace(/^\/+/, "")}`;
    let res: Response;
    try {
      res = await fetch(url, { method: "POST", unix: this.socketPath, headers: { accept: "text/event-stream" }, signal, timeout: false } as RequestInit);
    } catch (err) {
      if (signal.aborted) throw err;
      throw new ControlUnavailable(`no soli-proxy answers on ${this.socketPath}: ${(err as Error).message}`);
    }
    if (!(res.headers.get("content-type") ?? "").includes("text/event-stream")) {
      const text = await res.text();
      let envelope: { ok?: boolean; data?: T; error?: string } = {};
      try {
        envelope = JSON.parse(text);
      } catch {}
      if (res.status >= 400 || envelope.ok === false) throw new ControlError(res.status, envelope.error ?? `HTTP ${res.status}`, envelope);
      return envelope.data as T;
    }
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = parseEvent(block);
          if (!event) continue;
          if (event.event === "done") return event.data as T;
          if (event.event === "error") throw new ControlError(500, (event.data as { error?: string })?.error ?? "operation failed", event.data);
          onEvent(event);
        }
      }
    } catch (err) {
      if (err instanceof ControlError || signal.aborted) throw err;
      throw new ControlLost(`the connection to the proxy ended before the operation finished: ${(err as Error).message}`);
    }
    throw new ControlLost("the connection to the proxy ended before the operation finished");
  }

  get<T = unknown>(path: string): Promise<T> {
    return this.call<T>("GET", path);
  }

  post<T = unknown>(path: string, body?: unknown, opts?: { timeoutMs?: number }): Promise<T> {
    return this.call<T>("POST", path, body, opts);
  }

  put<T = unknown>(path: string, body: unknown): Promise<T> {
    return this.call<T>("PUT", path, body);
  }

  delete(path: string): Promise<unknown> {
    return this.call("DELETE", path);
  }

  /** Whether a proxy answers on the socket. */
  async running(): Promise<boolean> {
    try {
      await this.request("GET", "status", undefined, { timeoutMs: 1500 });
      return true;
    } catch (err) {
      if (err instanceof ControlUnavailable) return false;
      throw err;
    }
  }
}

/** An SSE block: comment lines (`:`) skipped, `data:` lines joined; null for a comment-only block. */
function parseEvent(block: string): StreamEvent | null {
  let event = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (data.length === 0) return null;
  try {
    return { event, data: JSON.parse(data.join("\n")) };
  } catch {
    return { event, data: data.join("\n") };
  }
}
