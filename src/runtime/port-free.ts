import { formatAuthority } from "../lib/net.ts";

/**
 * Proxy listeners are bound with SO_REUSEPORT so that the new primary of a hitless upgrade can
 * bind beside the old one (SPEC §15.5). The price: a second, unrelated proxy on the same port
 * would share it silently instead of failing. So a cold start in one process first binds each
 * port exclusively for a moment, which fails while anyone listens there, and then start-up fails
 * as SPEC §2 says. (Worker processes have always bound with SO_REUSEPORT, SPEC §15.1.)
 */
export function assertPortFree(hostname: string, port: number): void {
  if (port === 0) return;
  let probe;
  try {
    probe = Bun.listen({ hostname, port, socket: { data() {} } });
  } catch (err) {
    throw new Error(`${formatAuthority(hostname, port)} is already in use: ${(err as Error).message}`);
  }
  probe.stop(true);
}
