/**
 * The admin API (SPEC §11) over either door: run/control.sock (no credentials, SPEC §15.2) or
 * admin.bind over TCP with a credential. The TUI uses it (SPEC §16.5): the socket when it answers,
 * else admin.bind. Every request carries `X-Requested-With`, which the admin's CSRF check asks of
 * writes without an API key (SPEC §11.1). Errors are the ControlClient's: ControlUnavailable when
 * nothing answers, ControlError when the API answers with an error envelope.
 */
import { ControlError, ControlUnavailable } from "./client.ts";

export type AdminTarget = { kind: "socket"; path: string } | { kind: "http"; origin: string; headers: Readonly<Record<string, string>> };

export interface AdminAnswer {
  status: number;
  headers: Headers;
  /** The parsed JSON envelope, or the text for other answers (metrics). */
  body: unknown;
}

export class AdminClient {
  constructor(
    readonly target: AdminTarget,
    /** Sent with every request (e.g. `X-Requested-With: soli-tui`). */
    private readonly headers: Readonly<Record<string, string>> = {},
    private readonly timeoutMs = 1500,
  ) {}

  /** Where requests go, for people: the socket path or the admin origin. */
  describe(): string {
    return this.target.kind === "socket" ? this.target.path : this.target.origin;
  }

  private fetch(method: string, path: string, init: { body?: unknown; signal: AbortSignal }): Promise<Response> {
    const socket = this.target.kind === "socket";
    const origin = this.target.kind === "socket" ? "http://localhost" : this.target.origin;
    const headers: Record<string, string> = { ...this.headers, ...(this.target.kind === "http" ? this.target.headers : {}) };
    if (init.body !== undefined) headers["content-type"] = "application/json";
    return fetch(`${origin}/api/v1/${path.replace(/^\/+/, "")}`, {
      method,
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: init.signal,
      // the signal is the deadline; Bun's own 5 min idle timer must not cut a long deploy
      timeout: false,
      ...(socket ? { unix: (this.target as { path: string }).path } : {}),
    } as RequestInit);
  }

  /** One request to `/api/v1/<path>`; ControlUnavailable when nothing answers in time. */
  async request(method: string, path: string, body?: unknown, opts: { timeoutMs?: number } = {}): Promise<AdminAnswer> {
    const signal = AbortSignal.timeout(opts.timeoutMs ?? this.timeoutMs);
    let res: Response;
    let text: string;
    try {
      res = await this.fetch(method, path, { body, signal });
      text = await res.text();
    } catch (err) {
      throw new ControlUnavailable(`no soli-proxy answers on ${this.describe()}: ${(err as Error).message}`);
    }
    const json = (res.headers.get("content-type") ?? "").includes("application/json") && text !== "";
    let parsed: unknown = text;
    if (json) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    return { status: res.status, headers: res.headers, body: parsed };
  }

  /** The `data` of a successful answer; an error envelope becomes a ControlError. */
  async call<T = unknown>(method: string, path: string, body?: unknown, opts: { timeoutMs?: number } = {}): Promise<T> {
    const { status, body: answer } = await this.request(method, path, body, opts);
    const envelope = answer as { ok?: boolean; data?: T; error?: string } | null;
    if (status >= 400 || envelope?.ok === false) throw new ControlError(status, envelope?.error ?? `HTTP ${status}`, answer);
    return (typeof answer === "object" && answer !== null && "data" in answer ? envelope!.data : answer) as T;
  }

  /**
   * Reads a server-sent event stream (`GET /api/v1/<path>`), calling `onData` with each event's
   * parsed `data`, until the stream ends or `signal` aborts. Rejects when it cannot connect.
   */
  async events(path: string, onData: (data: unknown) => void, signal: AbortSignal): Promise<void> {
    const res = await this.fetch("GET", path, { signal });
    if (!res.ok || !res.body) throw new ControlError(res.status, `event stream answered HTTP ${res.status}`, null);
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk, { stream: true });
      const { events, rest } = splitEvents(buffer);
      buffer = rest;
      for (const data of events) {
        try {
          onData(JSON.parse(data));
        } catch {
          // not JSON: not an event this client knows
        }
      }
    }
  }
}

/** Complete events of an SSE buffer (their joined `data:` lines) and the incomplete rest. */
export function splitEvents(buffer: string): { events: string[]; rest: string } {
  const events: string[] = [];
  const blocks = buffer.replace(/\r\n/g, "\n").split("\n\n");
  const rest = blocks.pop() ?? "";
  for (const block of blocks) {
    const data = block
      .split("\n")
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).replace(/^ /, ""));
    if (data.length > 0) events.push(data.join("\n"));
  }
  return { events, rest };
}
