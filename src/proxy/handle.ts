/**
 * The request path (ARCHITECTURE §4), one request read top to bottom:
 *
 *   door → route → guard → pick → forward → respond → record
 *
 * Each phase is a function in its own file that takes the flight and returns a value; a phase
 * that answers early returns a Response. The record phase always runs, once the answer is complete
 * (the flight calls it). Kept free of `await`: every hop between the exchange and Bun.serve costs
 * time, so the proxied answer is one promise the flight resolves itself.
 */
import type { AuthGrant, Route } from "../config/snapshot.ts";
import { clientKey } from "../state/limiter.ts";
import { admit, answerAtTheDoor, limitAtTheDoor } from "./door.ts";
import { plain, ProxyError } from "./errors.ts";
import type { Flight } from "./flight.ts";
import { aim, forward } from "./forward.ts";
import { guard } from "./guard.ts";
import { pickTarget, type Grant } from "./pick.ts";
import { rateLimit } from "./rate-limit.ts";
import { redirect } from "./redirect.ts";
import { route } from "./route.ts";
import { isWebSocketUpgrade, tunnelRequest, Upgrade } from "./websocket.ts";

/** What handle() answers: a Response, or a WebSocket upgrade for server/ to carry out. */
export type Answer = Response | Upgrade;

export function handle(flight: Flight): Answer | Promise<Answer> {
  flight.state.inFlight++;
  let answer: Answer | Promise<Answer>;
  try {
    answer = door(flight);
  } catch (err) {
    return flight.fail(err);
  }
  if (!(answer instanceof Promise)) return settled(flight, answer);
  // The flight's own promise is settled by the flight; any other (a shared rate-limit bucket, a
  // bcrypt or JWT check, the metrics page) is settled here.
  if (answer === flight.promise) return answer;
  return answer.then(
    (a) => settled(flight, a),
    (err) => flight.fail(err),
  );
}

function settled(flight: Flight, answer: Answer): Answer {
  return answer instanceof Upgrade ? answer : flight.settle(answer);
}

type Phase = Answer | Promise<Answer>;

/** The door (SPEC §5.2 steps 3–9): the facts, the global limit, what the proxy answers itself. */
function door(flight: Flight): Phase {
  admit(flight);
  const limited = limitAtTheDoor(flight, flight.state);
  if (limited === null) return pastTheLimit(flight);
  if (limited instanceof Promise) return limited.then((r) => r ?? pastTheLimit(flight));
  return limited;
}

function pastTheLimit(flight: Flight): Phase {
  const early = answerAtTheDoor(flight, flight.state);
  if (early !== null) return early;
  flight.watch();
  // 1. route
  const matched = route(flight);
  // A known app with no serving slot (stopped, starting, failed): its host is served by no one
  // right now, which is a 503 to retry, not a 421 (SPEC §14.9). Only app routes have no target.
  if (matched.targets.length === 0) return plain(503, flight.req.method, "Service Unavailable", APP_RETRY_AFTER);
  // The rule's own bucket, after the global one (SPEC §3.6); before auth, so it also caps guessing.
  if (matched.rateLimit !== null) {
    const refused = rateLimit(flight, flight.state.limiter.rule(matched.key), matched.rateLimit);
    if (refused instanceof Promise) return refused.then((r) => r ?? guarded(flight, matched));
    if (refused !== null) return refused;
  }
  return guarded(flight, matched);
}

/** 2. guard: the route's auth policy (SPEC §7). */
function guarded(flight: Flight, matched: Route): Phase {
  if (matched.auth === null) return proceed(flight, matched);
  const verdict = guard(flight.req, matched.auth, flight.state, clientKey(flight.clientIp));
  if (verdict instanceof Promise) return verdict.then((v) => (v instanceof Response ? v : granted(flight, matched, v)));
  if (verdict instanceof Response) return verdict;
  return granted(flight, matched, verdict);
}

function granted(flight: Flight, matched: Route, grant: AuthGrant): Phase {
  flight.grant = grant;
  return proceed(flight, matched);
}

const ALWAYS: Grant = () => 0;
const APP_RETRY_AFTER = { "retry-after": "5" };

/** 3. pick, 4. forward; 5. respond follows when the head arrives (forward.ts attempted()). */
function proceed(flight: Flight, matched: Route): Phase {
  const state = flight.state;
  const req = flight.req;
  const breakers = state.breakers;
  // Load balancing over the targets whose circuit breaker grants a request (SPEC §6).
  const counter = matched.targets.length > 1 ? state.rotation.next(matched.key) : 0;
  const picked = pickTarget(matched, counter, matched.redirect ? ALWAYS : hasBody(flight) ? breakers.grantForUpload : breakers.grantFor);
  if (picked === null) throw new ProxyError(503, "upstream", `no available target for ${matched.key}: every circuit breaker is open`);
  const target = matched.targets[picked.index]!;
  if (matched.redirect) return redirect(flight, matched, target);
  aim(flight, target, picked.ticket);

  if (isWebSocketUpgrade(flight)) {
    // Selected like HTTP, but WebSocket outcomes are not reported (SPEC §6.2): give the grant back.
    breakers.release(target.origin, picked.ticket);
    return new Upgrade(flight, tunnelRequest(flight, matched, target));
  }
  if (target.scheme === "ws" || target.scheme === "wss") {
    breakers.release(target.origin, picked.ticket);
    throw new ProxyError(502, "client", `${matched.key} only accepts WebSocket upgrades (target ${target.url})`);
  }
  if (retryable(flight)) {
    flight.retryCounter = counter;
    flight.retrySkip = picked.index;
  }
  const answer = flight.answer();
  try {
    forward(flight, matched);
  } catch (err) {
    breakers.release(target.origin, picked.ticket);
    throw err;
  }
  return answer;
}

/** A request body still to be read from the client. */
function hasBody(flight: Flight): boolean {
  return flight.req.body !== null && flight.fields["content-length"] !== "0";
}

/** Idempotent for a retry (SPEC §6.1): GET, HEAD, OPTIONS, or any method with no body. */
function retryable(flight: Flight): boolean {
  const m = flight.req.method;
  return m === "GET" || m === "HEAD" || m === "OPTIONS" || flight.req.body === null || flight.fields["content-length"] === "0";
}
