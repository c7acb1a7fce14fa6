/**
 * Requests in flight per client (limits.max_in_flight_per_client, SPEC §4): one client, for
 * instance an HTTP/2 connection with hundreds of streams, cannot take every upstream connection
 * or overload a backend into its circuit breaker (issue 20). Keys are clientKey() values (IPv6 by
 * /64, like the rate limiter); a key leaves the map when its last request ends, so the map holds
 * only clients with requests in flight.
 */
export class ClientFlights {
  private readonly counts = new Map<string, number>();

  /** Counts a request in; false (and nothing counted) when the client is at `max` already. */
  enter(key: string, max: number): boolean {
    const n = this.counts.get(key) ?? 0;
    if (n >= max) return false;
    this.counts.set(key, n + 1);
    return true;
  }

  leave(key: string): void {
    const n = this.counts.get(key);
    if (n === undefined) return;
    if (n <= 1) this.counts.delete(key);
    else this.counts.set(key, n - 1);
  }

  /** Requests in flight for `key` (tests, diagnostics). */
  of(key: string): number {
    return this.counts.get(key) ?? 0;
  }
}
