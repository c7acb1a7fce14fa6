/**
 * App health probes (SPEC §14.7 step 3, §14.8): `GET http://127.0.0.1:<port><health_check>`.
 * A probe either gets an HTTP answer (2xx is healthy) or fails in transport (refused, reset,
 * timeout): only the latter means the process is not serving at all.
 */
export type ProbeResult = { answered: true; status: number } | { answered: false; error: string };

export function healthUrl(port: number, path: string): string {
  return `http://127.0.0.1:${port}${path}`;
}

export async function probe(url: string, timeoutMs: number): Promise<ProbeResult> {
  try {
    // A fresh connection per probe: a pooled one could outlive the process it was opened to.
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "manual", headers: { connection: "close" }, keepalive: false });
    await res.body?.cancel().catch(() => {});
    return { answered: true, status: res.status };
  } catch (err) {
    return { answered: false, error: transportError(err, timeoutMs) };
  }
}

function transportError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; code?: string; message?: string };
  if (e.name === "TimeoutError" || e.name === "AbortError") return `timed out after ${timeoutMs / 1000}s`;
  if (e.code === "ECONNREFUSED") return "connection refused";
  if (e.code === "ECONNRESET") return "connection reset";
  return e.message ?? String(err);
}

export interface HealthWait {
  attempts: number;
  intervalMs: number;
  timeoutMs: number;
}

/** One line per attempt for the CLI (SPEC §16.1) and the log. */
export interface HealthAttempt {
  attempt: number;
  of: number;
  url: string;
  /** HTTP status of the answer, or null on a transport failure. */
  status: number | null;
  error: string | null;
}

export type HealthOutcome = { healthy: true } | { healthy: false; exited: string | null; lastError: string };

/**
 * Probes at once, then every `intervalMs`, `attempts` times, until a 2xx. Gives up at once when
 * `exited` settles (the process died: its reason is the failure).
 */
export async function waitHealthy(url: string, exited: Promise<string>, wait: HealthWait, onAttempt?: (a: HealthAttempt) => void): Promise<HealthOutcome> {
  let gone: string | null = null;
  let wake: (() => void) | null = null;
  void exited.then((reason) => {
    gone = reason;
    wake?.();
  });
  let lastError = "no attempt made";
  for (let attempt = 1; attempt <= wait.attempts; attempt++) {
    if (gone !== null) return { healthy: false, exited: gone, lastError: gone };
    const result = await probe(url, wait.timeoutMs);
    if (gone !== null) return { healthy: false, exited: gone, lastError: gone };
    const status = result.answered ? result.status : null;
    const error = result.answered ? (status! >= 200 && status! < 300 ? null : `HTTP ${status}`) : result.error;
    onAttempt?.({ attempt, of: wait.attempts, url, status, error });
    if (error === null) return { healthy: true };
    lastError = error;
    if (attempt < wait.attempts) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait.intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  }
  return gone !== null ? { healthy: false, exited: gone, lastError: gone } : { healthy: false, exited: null, lastError };
}
