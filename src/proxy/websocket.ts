/**
 * SPEC §5.8: what the proxy asks of the backend when a client wants a WebSocket. The tunnel itself
 * (connect first, then 101, relay, limits) lives in server/ws.ts; this phase only decides where
 * and with which headers.
 */
import type { Route, Upstream, WebSocketLimits } from "../config/snapshot.ts";
import type { Flight } from "./flight.ts";
import { upstreamHeaders } from "./forward.ts";
import { upstreamTarget } from "./url.ts";

/** Everything server/ws.ts needs to open the backend side of a tunnel. */
export interface TunnelRequest {
  /** `ws://` or `wss://` URL of the backend: the resolved upstream URL (SPEC §5.4). */
  readonly url: string;
  /** Handshake headers: the client's minus hop-by-hop, Host and Sec-WebSocket-*, plus §5.6 steps 3–6. */
  readonly headers: [string, string][];
  /** The client's offered Sec-WebSocket-Protocol list, in order. */
  readonly protocols: string[];
  /** The target's origin (breaker key, metrics label). */
  readonly origin: string;
  /** Says which tunnel a log line is about: `ws://h:1/chat (GET /chat)`. */
  readonly describe: string;
  readonly limits: TunnelLimits;
}

export type TunnelLimits = WebSocketLimits;

/** handle()'s answer for a WebSocket: server/ acts on it (opens the tunnel) and tells the flight. */
export class Upgrade {
  constructor(
    readonly flight: Flight,
    readonly tunnel: TunnelRequest,
  ) {}
}

/** SPEC §5.2 step 14: `Upgrade: websocket` (any case) on a GET. */
export function isWebSocketUpgrade(flight: Flight): boolean {
  if (flight.req.method !== "GET") return false;
  const upgrade = flight.fields.upgrade;
  return upgrade !== undefined && upgrade.toLowerCase() === "websocket";
}

export function tunnelRequest(flight: Flight, route: Route, target: Upstream): TunnelRequest {
  const path = upstreamTarget(route, target, flight);
  const url = `${target.secure ? "wss" : "ws"}://${target.authority}${path}`;
  const headers: [string, string][] = [];
  // The same header rules as plain HTTP (SPEC §5.6 steps 1 and 3–6); the WebSocket client writes
  // its own Sec-WebSocket-Key/Version/Protocol, Upgrade and Connection.
  for (const line of upstreamHeaders(flight, route, target).split("\r\n")) {
    const colon = line.indexOf(": ");
    if (colon <= 0) continue;
    const name = line.slice(0, colon);
    if (name.startsWith("sec-websocket-")) continue;
    headers.push([name, line.slice(colon + 2)]);
  }
  const offered = flight.req.headers.get("sec-websocket-protocol");
  const protocols =
    offered === null
      ? []
      : offered
          .split(",")
          .map((p) => p.trim())
          .filter((p) => p !== "");
  return { url, headers, protocols, origin: target.origin, describe: `${url} (GET ${flight.path})`, limits: flight.snapshot.websocket };
}
