/**
 * What every phase of a request may read: the pinned snapshot and the facts about the request
 * that are worked out once at the door.
 */
import type { Snapshot } from "../config/snapshot.ts";

export interface RequestContext {
  readonly req: Request;
  /** The configuration this request uses from start to finish. */
  readonly snapshot: Snapshot;
  /** Scheme of the listener the request came in on. */
  readonly scheme: "http" | "https";
  /** TCP peer address (IPv4 plain). */
  readonly peer: string;
  /** Client address after the trusted-proxy walk (SPEC §5.5). */
  readonly clientIp: string;
  /** Host header (or :authority) as sent, port included; "" for an HTTP/1.0 request without one. */
  readonly authority: string;
  /** Routed host: lower-case, no port, no brackets. */
  readonly host: string;
  /** URL path (dot segments removed, percent-encoding kept), without the query. */
  readonly path: string;
  /** Query without `?`, "" when none. */
  readonly query: string;
  readonly id: string;
}
