/**
 * A client for a running proxy's admin API over run/control.sock (SPEC §15.2): HTTP/1.1 on a unix
 * socket, no credentials (the socket is 0600 in a 0700 directory). For the lifecycle commands
 * (SPEC §16.1) and the TUI (§16.5), which must tell "no proxy runs here" (ControlUnavailable: act
 * standalone) from "the proxy said no" (ControlError: print it, exit 1).
 */
import { dirname, join, resolve } from "node:path";

/** run/control.sock beside a proxy.conf (SPEC §1). */
export function controlSocketPath(confPath: string): string {
  return join(dirname(resolve(confPath)), "run", "control.sock");
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
