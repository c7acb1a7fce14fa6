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
  /** How long the whole wait may last: the app's health_timeout (SPEC §14.2). */
  waitMs: number;
  /** Pause between probes. */
  intervalMs: number;
  /** Time limit of one probe. */
  timeoutMs: number;
}

/** One probe of the wait, for progress (SPEC §14.7 phase "health"). */
export interface HealthAttempt {
  attempt: number;
  elapsedMs: number;
  /** null when the probe got a 2xx. */
  error: string | null;
}

export type HealthOutcome = { healthy: true } | { healthy: false; exited: string | null; lastError: string };

/**
 * Probes at once, then every `intervalMs` until a 2xx or until `waitMs` has passed (SPEC §14.7
 * step 3). Gives up at once when `exited` settles (the process died: its reason is the failure).
 */
export async function waitHealthy(url: string, exited: Promise<string>, wait: HealthWait, onAttempt?: (a: HealthAttempt) => void): Promise<HealthOutcome> {
  const started = performance.now();
  let gone: string | null = null;
  let wake: (() => void) | null = null;
  void exited.then((reason) => {
    gone = reason;
    wake?.();
  });
  let lastError = "no attempt made";
  for (let attempt = 1; ; attempt++) {
    if (gone !== null) return { healthy: false, exited: gone, lastError: gone };
    const result = await probe(url, wait.timeoutMs);
    if (gone !== null) return { healthy: false, exited: gone, lastError: gone };
    const status = result.answered ? result.status : null;
    const error = result.answered ? (status! >= 200 && status! < 300 ? null : `HTTP ${status}`) : result.error;
    const elapsed = performance.now() - started;
    onAttempt?.({ attempt, elapsedMs: elapsed, error });
    if (error === null) return { healthy: true };
    lastError = error;
    const left = wait.waitMs - elapsed;
    if (left <= 0) break;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.min(wait.intervalMs, left));
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    wake = null;
  }
  return gone !== null ? { healthy: false, exited: gone, lastError: gone } : { healthy: false, exited: null, lastError };
}
