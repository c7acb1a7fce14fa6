/**
 * Backends that fail in every way a TCP peer can (issue 11, item 3). Each fault must give the
 * client a clean 502/504 or a cleanly cut stream (the connection closes before the body's end, so
 * the client can tell), be reported to the origin's circuit breaker, and leave no socket behind:
 * the proxy runs as its own process and its open descriptors are counted in /proc/<pid>/fd.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import type net from "node:net";
import { join } from "node:path";
import { rawBackend, type RawBackend } from "../support/backend.ts";
import { tempProject, testToml, type TempProject } from "../support/project.ts";
import { rawExchange, statusOf } from "../support/raw.ts";
import { spawnProxy, type SpawnedProxy } from "../support/spawn.ts";
import { waitFor } from "../support/wait.ts";

const HEAD_100K = "HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n";
const CHUNKED_HEAD = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
const chunk = (text: string) => `${text.length.toString(16)}\r\n${text}\r\n`;

/**
 * Every fault backend, by route name: what it does once a request has arrived. The short delays
 * put the fault in a later packet than the head (mid-body, not one garbled read); the proxy is
 * another process, so this side has no event that says it read the head.
 */
const FAULTS: Record<string, (socket: net.Socket) => void> = {
  // A reset (RST) after the head and part of a length-delimited body.
  "reset-mid-body": (s) => {
    s.write(HEAD_100K + "a".repeat(1000));
    setTimeout(() => s.resetAndDestroy(), 50);
  },
  // The same with a chunked body: the proxy must not end the chunked stream it relays.
  "reset-mid-chunked": (s) => {
    s.write(CHUNKED_HEAD + chunk("b".repeat(1000)));
    setTimeout(() => s.resetAndDestroy(), 50);
  },
  // A FIN before the announced length.
  "close-mid-body": (s) => {
    s.write(HEAD_100K + "c".repeat(1000));
    setTimeout(() => s.end(), 50);
  },
  // Accepts and never answers.
  "hang-before-head": () => {},
  // The head and a little body, then silence with the connection open.
  "hang-mid-body": (s) => s.write(CHUNKED_HEAD + chunk("d".repeat(100))),
  "garbage-head": (s) => s.end("SSH-2.0-OpenSSH_9.2\r\n\r\n"),
  // A valid head followed at once by an invalid chunk line, in the same packet.
  "garbage-first-chunk": (s) => s.write(CHUNKED_HEAD + "zz\r\nhello\r\n"),
  // A later chunk line that is not hex.
  "garbage-later-chunk": (s) => {
    s.write(CHUNKED_HEAD + chunk("e".repeat(100)));
    setTimeout(() => s.write("not-hex\r\n"), 50);
  },
  // More bytes than Content-Length announced, shaped like a response to the next request.
  "larger-than-announced": (s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nevil!"),
  // Keep-alive answers, then the backend closes the idle connection soon after.
  "closes-idle": (s) => {
    s.write("HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nfine");
    setTimeout(() => s.end(), 20);
  },
};

let project: TempProject;
let proxy: SpawnedProxy;
const backends: Record<string, RawBackend> = {};

/** Open descriptors of the proxy process. */
const fds = () => readdirSync(`/proc/${proxy.proc.pid}/fd`).length;

async function breakers(): Promise<Record<string, { state: string; consecutive_failures: number }>> {
  const res = await fetch("http://localhost/api/v1/circuit-breaker", {
    unix: join(project.dir, "run", "control.sock"),
    headers: { connection: "close" },
  } as RequestInit);
  return ((await res.json()) as { data: Record<string, { state: string; consecutive_failures: number }> }).data;
}

/** The breaker of the fault's backend, as [state, consecutive_failures]. */
async function breakerOf(name: string): Promise<[string, number] | null> {
  const b = (await breakers())[`http://127.0.0.1:${backends[name]!.port}`];
  return b ? [b.state, b.consecutive_failures] : null;
}

/** A raw GET on a fault's route; Connection: close so the client side leaves nothing open. */
function get(name: string, timeoutMs = 3000) {
  return rawExchange(proxy.http, `GET /${name}/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`, timeoutMs);
}

/** The body of a raw response with its framing as sent: the bytes after the head. */
const bodyOf = (text: string) => text.slice(text.indexOf("\r\n\r\n") + 4);

beforeAll(async () => {
  for (const [name, fault] of Object.entries(FAULTS)) {
    backends[name] = await rawBackend((_req, socket) => fault(socket));
  }
  const rules = Object.keys(FAULTS).map((name) => `/${name}/* -> http://127.0.0.1:${backends[name]!.port}`);
  project = tempProject({
    "proxy.conf": rules.join("\n") + "\n",
    // A high threshold keeps every breaker closed, so each failure shows in consecutive_failures.
    "config.toml": testToml("[limits]\nrequest_timeout = 1\nkeep_alive_timeout = 2\n\n[circuit_breaker]\nfailure_threshold = 100\n"),
  });
  proxy = await spawnProxy(project.conf, { args: ["--watch", "false"] });
});

afterAll(async () => {
  await proxy?.stop("SIGKILL");
  for (const b of Object.values(backends)) b.stop();
  project?.remove();
});

describe("backend faults (proxy in its own process)", () => {
  test("a reset or close mid-body cuts the client's stream before its end and counts as a breaker failure", async () => {
    const before = fds();
    const results = [];
    for (const name of ["reset-mid-body", "reset-mid-chunked", "close-mid-body"]) {
      const { text, closed } = await get(name);
      const body = bodyOf(text);
      // Bun relays a streamed body chunked: a cut stream is one without the final 0-length chunk.
      results.push([statusOf(text), closed, body.length > 1000 && body.length < 2000, body.endsWith("0\r\n\r\n"), await breakerOf(name)]);
    }
    expect(results).toEqual([
      [200, true, true, false, ["closed", 1]],
      [200, true, true, false, ["closed", 1]],
      [200, true, true, false, ["closed", 1]],
    ]);
    // The failures are in the JSON log, not printed as stack traces on stderr.
    const cut = proxy
      .output()
      .split("\n")
      .filter((l) => l.includes('"upstream response cut off"'))
      .map((l) => JSON.parse(l).err);
    expect([proxy.errors(), cut]).toEqual(["", Array(3).fill("upstream closed the connection mid-body")]);
    await waitFor(() => fds() <= before, `the proxy's descriptors back to ${before}`, 5000);
  });

  test("no response head within request_timeout is 504 and a breaker failure; the upstream connection is closed", async () => {
    const before = fds();
    const started = Date.now();
    const { text } = await get("hang-before-head");
    const elapsed = Date.now() - started;
    await waitFor(() => backends["hang-before-head"]!.closed === backends["hang-before-head"]!.connections, "the upstream connection to close");
    expect([statusOf(text), bodyOf(text), elapsed >= 900 && elapsed < 2500, await breakerOf("hang-before-head")]).toEqual([
      504,
      "Gateway Timeout",
      true,
      ["closed", 1],
    ]);
    await waitFor(() => fds() <= before, `the proxy's descriptors back to ${before}`, 5000);
  });

  test("a backend silent mid-body keeps the stream open (no body limit, SPEC §5.10) until the client leaves, which closes the upstream connection", async () => {
    const before = fds();
    const hung = backends["hang-mid-body"]!;
    // Held past keep_alive_timeout (2 s) and request_timeout (1 s): neither applies to a body.
    const { text, closed } = await get("hang-mid-body", 2500);
    await waitFor(() => hung.closed === hung.connections, "the proxy to close the upstream connection after the client left");
    // A client that left says nothing about the upstream: no breaker outcome either way.
    expect([statusOf(text), closed, bodyOf(text), await breakerOf("hang-mid-body")]).toEqual([200, false, chunk("d".repeat(100)), ["closed", 0]]);
    await waitFor(() => fds() <= before, `the proxy's descriptors back to ${before}`, 5000);
  });

  test("garbage instead of a head, or in the first chunk line, is 502; garbage in a later chunk line cuts the stream", async () => {
    const before = fds();
    const head = await get("garbage-head");
    const first = await get("garbage-first-chunk");
    const later = await get("garbage-later-chunk");
    expect([
      [statusOf(head.text), bodyOf(head.text), await breakerOf("garbage-head")],
      [statusOf(first.text), bodyOf(first.text), await breakerOf("garbage-first-chunk")],
      [statusOf(later.text), later.closed, bodyOf(later.text), await breakerOf("garbage-later-chunk")],
    ]).toEqual([
      [502, "Bad Gateway", ["closed", 1]],
      [502, "Bad Gateway", ["closed", 1]],
      [200, true, chunk("e".repeat(100)), ["closed", 1]],
    ]);
    await waitFor(() => fds() <= before, `the proxy's descriptors back to ${before}`, 5000);
  });

  test("bytes past the announced Content-Length are dropped with the connection, never read as the next response", async () => {
    const before = fds();
    const larger = backends["larger-than-announced"]!;
    const first = await get("larger-than-announced");
    const second = await get("larger-than-announced");
    expect([bodyOf(first.text), bodyOf(second.text), larger.connections, await breakerOf("larger-than-announced")]).toEqual(["ok", "ok", 2, ["closed", 0]]);
    await waitFor(() => larger.closed === 2 && fds() <= before, `the proxy's descriptors back to ${before}`, 5000);
  });

  test("a backend closing idle keep-alive connections under the pool fails no request", async () => {
    const before = fds();
    const send = async (method: "GET" | "POST", i: number) => {
      const body = method === "POST" ? "Content-Length: 3\r\n\r\nabc" : "\r\n";
      return statusOf((await rawExchange(proxy.http, `${method} /closes-idle/${i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n${body}`)).text);
    };
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      // Right behind the previous answer: the pooled connection is reused before, while or after
      // the backend closes it; a GET that loses that race is replayed on a new connection.
      statuses.push(await send("GET", i));
      // A POST cannot be replayed, so it goes once the proxy has dropped the closed connection.
      await waitFor(() => fds() <= before, "the proxy to drop the connection the backend closed");
      statuses.push(await send("POST", i));
    }
    expect([statuses, await breakerOf("closes-idle")]).toEqual([Array(20).fill(200), ["closed", 0]]);
    await waitFor(() => fds() <= before, `the proxy's descriptors back to ${before}`, 5000);
  });

  test("after every fault the proxy still serves and holds no descriptor more than at start", async () => {
    const { text } = await get("closes-idle");
    expect(bodyOf(text)).toBe("fine");
    expect(proxy.proc.exitCode).toBeNull();
  });
});
