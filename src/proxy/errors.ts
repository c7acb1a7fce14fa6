import type { Logger } from "../lib/log.ts";

/**
 * ProxyError: a request the proxy answers itself, with whose fault it was (ARCHITECTURE §6).
 * Only `source: "upstream"` is reported to the circuit breaker.
 */
export type ErrorSource = "client" | "upstream" | "internal";

/** What a ProxyError may carry beyond status, fault and log message. */
export interface ProxyErrorOptions {
  /** The response body; the status's own of SPEC §5.9 when absent. */
  readonly body?: string;
  /** The error that led to this one (Error's `cause`). */
  readonly cause?: unknown;
}

export class ProxyError extends Error {
  override name = "ProxyError";
  /** What the client reads; `message` is what the log says. */
  readonly body: string;

  constructor(
    readonly status: number,
    readonly source: ErrorSource,
    message: string,
    options?: ProxyErrorOptions,
  ) {
    super(message, options); // Error takes `cause` from it and nothing else
    this.body = options?.body ?? DEFAULT_BODIES[status] ?? "Error";
  }
}

/** Bodies of the responses the proxy generates (SPEC §5.9). */
export const DEFAULT_BODIES: Readonly<Record<number, string>> = {
  301: "Moved Permanently",
  400: "Bad Request",
  401: "Authentication required",
  403: "Forbidden",
  404: "Not Found",
  408: "Request Timeout",
  413: "Payload Too Large",
  421: "Misdirected Request",
  429: "Rate limit exceeded",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

const TEXT = "text/plain; charset=utf-8";

/** A proxy-generated answer: `text/plain; charset=utf-8`, no body for HEAD (SPEC §5.9). */
export function plain(status: number, method: string, body = DEFAULT_BODIES[status] ?? "", extra?: Record<string, string>): Response {
  const headers: Record<string, string> = { "content-type": TEXT, "content-length": String(Buffer.byteLength(body)), ...extra };
  return new Response(method === "HEAD" ? null : body, { status, headers });
}

/** Failed authentication attempts throttled (issue 20): 429 with the seconds until the next try. */
export function tooManyAttempts(method: string, retryAfterSecs: number): Response {
  return plain(429, method, "Too many failed authentication attempts", { "retry-after": String(retryAfterSecs) });
}

/**
 * The answer to a request whose handling threw, logged with why (issue 20: every refusal says
 * why, the rule or the reason is in the message). `request` gives the request id on demand.
 */
export function errorResponse(err: unknown, method: string, request: { readonly id: string }, log: Logger): Response {
  if (err instanceof ProxyError) {
    if (err.status >= 500) log.warn({ req_id: request.id, err: err.message }, "proxy error");
    else if (err.status !== 499) log.info({ req_id: request.id, status: err.status, reason: err.message }, "request refused");
    return plain(err.status, method, err.body);
  }
  log.error({ req_id: request.id, err }, "unexpected error while handling a request");
  return plain(500, method);
}
