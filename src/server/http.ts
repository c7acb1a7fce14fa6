/**
 * The fetch entry of the proxy listeners (SPEC §5.2): Bun glue only. It answers ACME HTTP-01
 * challenges, asks Bun who the peer is, starts a Flight and hands it to proxy/handle.ts; a
 * WebSocket upgrade comes back as a value that is carried out here (server/ws.ts).
 */
import type { Server } from "bun";
import { Flight, type Door } from "../proxy/flight.ts";
import { handle, type Answer } from "../proxy/handle.ts";
import { Upgrade } from "../proxy/websocket.ts";
import type { ChallengeTokens } from "../tls/challenge.ts";
import { openTunnel } from "./ws.ts";

export interface HttpDeps extends Door {
  /** HTTP-01 tokens answered before anything else (SPEC §5.2 step 2). */
  readonly challenges?: ChallengeTokens;
}

/** Resolves undefined when the request was upgraded to a WebSocket. */
export type FetchHandler = (req: Request, server: Server<unknown>) => Response | undefined | Promise<Response | undefined>;

export function createFetchHandler(deps: HttpDeps): FetchHandler {
  const challenges = deps.challenges;
  const door: Door = { current: deps.current, state: deps.state, log: deps.log, scheme: deps.scheme };
  const tls = deps.scheme === "https";
  return function proxyFetch(req: Request, server: Server<unknown>): Response | undefined | Promise<Response | undefined> {
    // ACME HTTP-01 first: never limited, redirected or authenticated (SPEC §5.2 step 2).
    const challenge = challenges?.answer(req);
    if (challenge) return challenge;
    const address = server.requestIP(req);
    if (tls && address) door.state.metrics.tlsRequest(address.address, address.port);
    const flight = new Flight(req, door, server, address?.address ?? "");
    const answer = handle(flight);
    // The flight's own promise always carries a Response (an upgrade is never proxied through it).
    if (answer instanceof Promise) return answer === flight.promise ? (answer as Promise<Response>) : answer.then(toBun);
    return toBun(answer);
  };
}

/** A Response goes out as it is; an Upgrade opens the tunnel. */
function toBun(answer: Answer): Response | Promise<Response | undefined> {
  if (answer instanceof Upgrade) return upgrade(answer);
  return answer;
}

function upgrade({ flight, tunnel }: Upgrade): Promise<Response | undefined> {
  const state = flight.state;
  const deps = {
    watch: state.watch,
    tunnels: state.tunnels,
    log: flight.door.log(),
    control: flight,
    onEnd: (bytes: number, err: Error | null) => flight.onBodyEnd(bytes, err),
  };
  return openTunnel(flight.req, flight.server, tunnel, deps).then((response) => flight.tunnelAnswered(response));
}
