/**
 * runtime/serving.ts on real sockets: what a primary of one process and every worker share — the
 * swap, the listeners and the drain of SPEC §15.4.
 */
import { describe, expect, test } from "bun:test";
import { compile } from "../../src/config/compile.ts";
import { loadConfig, configFiles } from "../../src/config/load.ts";
import type { Snapshot } from "../../src/config/snapshot.ts";
import { createLogger } from "../../src/lib/log.ts";
import { ListenError, Serving } from "../../src/runtime/serving.ts";
import { ProxyState } from "../../src/state/proxy-state.ts";
import { ChallengeTokens } from "../../src/tls/challenge.ts";
import { backend } from "../support/backend.ts";
import { makeCa, makeLeaf } from "../support/certs.ts";
import { tempProject, testToml } from "../support/project.ts";
import { waitFor } from "../support/wait.ts";

const log = createLogger({ level: "silent", format: "json", output: "stderr" });

/** A snapshot of `conf` with the test defaults (shutdown_grace_period = 1 s). */
function snapshotOf(conf: string, version = 1): Snapshot {
  using project = tempProject({ "proxy.conf": conf, "config.toml": testToml() });
  const loaded = loadConfig(configFiles(project.conf));
  return compile({ version, dev: false, conf: loaded.conf!, settings: loaded.settings!, files: configFiles(project.conf), auth: loaded.auth });
}

async function certificates() {
  const leaf = await makeLeaf(await makeCa(), ["localhost"]);
  return [{ cert: leaf.cert, key: leaf.key }];
}

function serving(snapshot: Snapshot, state = new ProxyState()): Serving {
  return new Serving({ snapshot, state, challenges: new ChallengeTokens(), log: () => log });
}

/** Whether a TCP connection to 127.0.0.1:port is accepted. */
async function accepts(port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    socket.end();
    return true;
  } catch {
    return false;
  }
}

describe("serving (SPEC §13, §15.4)", () => {
  test("binds both listeners on port 0 and serves the snapshot swapped in to the next request", async () => {
    using a = backend(() => new Response("a"));
    using b = backend(() => new Response("b"));
    const s = serving(snapshotOf(`default -> ${a.url}\n`));
    const ports = s.bind({ hostname: "127.0.0.1", httpPort: 0, httpsPort: 0, certificates: await certificates() });
    try {
      const before = await (await fetch(`http://127.0.0.1:${ports.http}/`)).text();
      s.swap(snapshotOf(`default -> ${b.url}\n`, 2));
      const after = await (await fetch(`http://127.0.0.1:${ports.http}/`)).text();
      const https = await (await fetch(`https://localhost:${ports.https}/`, { tls: { rejectUnauthorized: false } })).text();
      expect({ before, after, https, version: s.current().version, distinct: ports.http !== ports.https && ports.http > 0 }).toEqual({
        before: "a",
        after: "b",
        https: "b",
        version: 2,
        distinct: true,
      });
    } finally {
      await s.close();
    }
  });

  test("a stop lets the request in flight finish, refuses new connections and reports not ready meanwhile", async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    let arrived = false;
    using slow = backend(async () => {
      arrived = true;
      await held;
      return new Response("finished");
    });
    const state = new ProxyState();
    const s = serving(snapshotOf(`default -> ${slow.url}\n`), state);
    const ports = s.bind({ hostname: "127.0.0.1", httpPort: 0, httpsPort: 0, certificates: await certificates() });
    const inFlight = fetch(`http://127.0.0.1:${ports.http}/`).then((r) => r.text());
    await waitFor(() => arrived, "the request reached the backend");
    const stopped = s.stop();
    const duringStop = { shuttingDown: state.shuttingDown, accepts: await accepts(ports.http) };
    release();
    const answer = await inFlight;
    await stopped;
    expect({ duringStop, answer, sameStop: s.stop() === stopped }).toEqual({
      duringStop: { shuttingDown: true, accepts: false },
      answer: "finished",
      sameStop: true,
    });
  });

  test("a stop cuts what is still in flight once shutdown_grace_period is over", async () => {
    let arrived = false;
    using stuck = backend(async () => {
      arrived = true;
      return new Promise<Response>(() => {}); // never answers: only the cut can end this request
    });
    const s = serving(snapshotOf(`default -> ${stuck.url}\n`));
    const ports = s.bind({ hostname: "127.0.0.1", httpPort: 0, httpsPort: 0, certificates: await certificates() });
    const inFlight = fetch(`http://127.0.0.1:${ports.http}/`).then(
      (r) => r.text(),
      () => "cut",
    );
    await waitFor(() => arrived, "the request reached the backend");
    const started = performance.now();
    await s.stop();
    const elapsed = performance.now() - started;
    expect({ answer: await inFlight, withinGrace: elapsed >= 900 && elapsed < 5000 }).toEqual({ answer: "cut", withinGrace: true });
  });

  test("a port in use fails the bind with the address named, and nothing stays bound", async () => {
    const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const free = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const freePort = free.port;
    free.stop(true);
    try {
      const s = serving(snapshotOf("default -> http://127.0.0.1:9\n"));
      let error: unknown = null;
      try {
        s.bind({ hostname: "127.0.0.1", httpPort: freePort, httpsPort: taken.port, certificates: await certificates() });
      } catch (err) {
        error = err;
      }
      expect({
        listenError: error instanceof ListenError,
        names: (error as Error).message.startsWith(`127.0.0.1:${taken.port}: `),
        plainReleased: !(await accepts(freePort)),
      }).toEqual({ listenError: true, names: true, plainReleased: true });
    } finally {
      taken.stop(true);
    }
  });

  test("an exclusive bind refuses a port another SO_REUSEPORT listener holds", async () => {
    const other = Bun.serve({ hostname: "127.0.0.1", port: 0, reusePort: true, fetch: () => new Response("other") });
    try {
      const s = serving(snapshotOf("default -> http://127.0.0.1:9\n"));
      const certs = await certificates();
      let message = "bound";
      try {
        s.bind({ hostname: "127.0.0.1", httpPort: other.port!, httpsPort: 0, certificates: certs, exclusive: true });
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toStartWith(`127.0.0.1:${other.port} is already in use`);
    } finally {
      await other.stop(true);
    }
  });
});
