/**
 * Cluster mode (SPEC §17): three nodes in this process on loopback, each with its own project
 * directory and ports, sharing one real redis-server started by the test. Each test uses its own
 * cluster name, so tests never see each other's keys.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, utimesSync } from "node:fs";
import { promtool } from "../support/promtool.ts";
import { backend, type TestBackend } from "../support/backend.ts";
import { api, API_KEY } from "../support/admin.ts";
import { startOnProject, tempProject, type TestProxy } from "../support/project.ts";
import { startRedis, type TestRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";
import { Feed } from "../../src/tui/data/feed.ts";
import { locate } from "../../src/tui/data/places.ts";

const HEARTBEAT_MS = 1000;
let redis: TestRedis;
let hello: TestBackend;
let clusterNo = 0;

beforeAll(async () => {
  redis = await startRedis();
  hello = backend(() => new Response("hello"));
});
afterAll(async () => {
  hello.stop();
  await redis[Symbol.asyncDispose]();
});

interface Node extends TestProxy {
  readonly adminUrl: string;
  readonly id: string;
}

function nodeToml(cluster: string, id: string, extra = "", workers = 1): string {
  return [
    `[server]\nbind = "127.0.0.1:0"\nhttps_port = 0\nworker_threads = ${workers}\nshutdown_grace_period = 1`,
    `[admin]\nenabled = true\nbind = "127.0.0.1:0"\napi_key = "${API_KEY}"`,
    `[cluster]\nredis_url = "${redis.url}"\nname = "${cluster}"\nnode_id = "${id}"\nheartbeat_secs = ${HEARTBEAT_MS / 1000}`,
    extra,
  ].join("\n\n");
}

async function startNode(cluster: string, id: string, conf: string, extra = "", workers = 1): Promise<Node> {
  const project = tempProject({ "proxy.conf": conf, "config.toml": nodeToml(cluster, id, extra, workers) });
  const proxy = await startOnProject(project, { env: {} });
  return Object.assign(proxy, { adminUrl: `http://127.0.0.1:${proxy.handle.admin!.port}`, id });
}

async function startNodes(conf: string, extra = ""): Promise<{ name: string; nodes: Node[] } & AsyncDisposable> {
  const name = `t${++clusterNo}-${process.pid}`;
  const nodes: Node[] = [];
  // One at a time: the first publishes its proxy.conf, the others join with it.
  for (const id of ["a", "b", "c"]) nodes.push(await startNode(name, id, conf, extra));
  return { name, nodes, [Symbol.asyncDispose]: () => Promise.all(nodes.map((n) => n.stop())).then(() => undefined) };
}

/** On a failed wait, prints the nodes' cluster log lines (what was published and applied, and when). */
const showLogs = (nodes: Node[]) => (err: Error) => {
  for (const n of nodes)
    console.log(
      n.id,
      n
        .logs()
        .filter((l) => /cluster|config/.test(String(l.msg)))
        .map((l) => JSON.stringify(l))
        .join("\n"),
    );
  throw err;
};

const cluster = async (n: Node) => (await api(n.adminUrl, "GET", "cluster")).body.data;
const liveIds = async (n: Node) => {
  const view = await cluster(n);
  return view.members
    .filter((m: { gone: boolean }) => !m.gone)
    .map((m: { node_id: string }) => m.node_id)
    .sort()
    .join(",");
};

describe("cluster on Redis (SPEC §17)", () => {
  test("every node lists the three members within 3 heartbeats, and a stopped node as gone", async () => {
    await using c = await startNodes(`default -> ${hello.url}\n`);
    const [a, b, cc] = c.nodes as [Node, Node, Node];
    const started = Date.now();
    for (const n of c.nodes) await waitFor(async () => (await liveIds(n)) === "a,b,c", `${n.id} to list a, b and c`, 3 * HEARTBEAT_MS + 2000);
    expect(Date.now() - started).toBeLessThan(3 * HEARTBEAT_MS + 2000);
    const view = await cluster(a);
    expect({ enabled: view.enabled, name: view.name, redis: view.redis, self: view.self }).toEqual({ enabled: true, name: c.name, redis: "up", self: "a" });
    // Members with distinct node_ids never pause their configuration sync (only a duplicate does).
    expect(
      c.nodes.flatMap((n) =>
        n
          .logs()
          .filter((l) => String(l.msg).includes("sync paused"))
          .map(() => n.id),
      ),
    ).toEqual([]);
    const metrics = await waitFor(
      async () => {
        const text = await (await fetch(`${a.url}/metrics`)).text();
        return text.includes("proxy_cluster_members 3\n") ? text : null;
      },
      "proxy_cluster_members 3 on a",
      2 * HEARTBEAT_MS + 1000,
    );
    expect(metrics).toContain("proxy_cluster_redis_up 1\n");
    const checked = await promtool(metrics);
    // promtool's lints (exit 3) concern the SPEC's own family names; only a parse error (1) fails here.
    if (checked !== null) expect(checked.code === 3 ? 0 : checked.code).toBe(0);

    await cc.handle.shutdown();
    await waitFor(async () => (await liveIds(b)) === "a,b", "b to see c gone", 3 * HEARTBEAT_MS + 2000);
    const gone = (await cluster(b)).members.find((m: { node_id: string }) => m.node_id === "c");
    expect(gone.gone).toBe(true);
  }, 30_000);

  test("the TUI's dashboard feed carries the members as the node sees them", async () => {
    await using c = await startNodes(`default -> ${hello.url}\n`);
    const feed = new Feed(locate({ conf: c.nodes[1]!.project.conf, sitesDir: "sites", env: {} }));
    feed.start();
    try {
      const state = await waitFor(
        () => (feed.state.cluster?.members.filter((m) => !m.gone).length === 3 ? feed.state : null),
        "three members in the feed",
        3 * HEARTBEAT_MS + 2000,
      );
      expect({ self: state.cluster?.self, redis: state.cluster?.redis, ids: state.cluster?.members.map((m) => m.node_id).sort() }).toEqual({
        self: "b",
        redis: "up",
        ids: ["a", "b", "c"],
      });
    } finally {
      feed.stop();
    }
  }, 30_000);

  test("a rule added through node A's admin API is served by B and C within 5 s and is in their proxy.conf", async () => {
    await using c = await startNodes(`default -> ${hello.url}\n`);
    const [a, b, cc] = c.nodes as [Node, Node, Node];
    using other = backend(() => new Response("added"));
    const added = await api(
      a.adminUrl,
      "POST",
      "routes",
      { matcher: { type: "exact", value: "/added" }, targets: [{ url: other.url }] },
      { "x-api-key": API_KEY },
    );
    expect(added.status).toBe(201);
    const start = Date.now();
    for (const n of [b, cc]) {
      await waitFor(async () => (await (await fetch(`${n.url}/added`)).text()) === "added", `${n.id} to serve /added`, 5000).catch(showLogs(c.nodes));
    }
    expect(Date.now() - start).toBeLessThan(5000);
    for (const n of [b, cc]) expect(readFileSync(n.project.conf, "utf8")).toContain(`/added -> ${other.url}`);
    // Every member reports the same configuration.
    await waitFor(
      async () => new Set((await cluster(a)).members.map((m: { config_sha256: string }) => m.config_sha256)).size === 1,
      "one config_sha256 across members",
      3 * HEARTBEAT_MS + 2000,
    );
  }, 30_000);

  test("a node that joins with an older proxy.conf takes the newest published one; a newer file of its own is published", async () => {
    await using c = await startNodes(`default -> ${hello.url}\n`);
    using other = backend(() => new Response("joined"));
    // An older file (mtime a day ago): the cluster's configuration wins.
    const older = tempProject({ "proxy.conf": `/old -> ${other.url}\n`, "config.toml": nodeToml(c.name, "d") });
    utimesSync(older.conf, new Date(Date.now() - 86_400_000), new Date(Date.now() - 86_400_000));
    await using d = await startOnProject(older, { env: {} });
    await waitFor(async () => (await (await fetch(`${d.url}/`)).text()) === "hello", "d to take the cluster's configuration", 5000);
    expect(readFileSync(older.conf, "utf8")).toBe(`default -> ${hello.url}\n`);
    // A newer file: its own configuration is published to the others.
    const newer = tempProject({ "proxy.conf": `default -> ${other.url}\n`, "config.toml": nodeToml(c.name, "e") });
    await using e = await startOnProject(newer, { env: {} });
    await waitFor(async () => (await (await fetch(`${c.nodes[0]!.url}/`)).text()) === "joined", "a to take e's newer configuration", 5000);
    expect(await (await fetch(`${e.url}/`)).text()).toBe("joined");
  }, 30_000);

  test("a configuration one node refuses is kept out there and shown in its member record", async () => {
    await using c = await startNodes(`default -> ${hello.url}\n`);
    const [a, b] = c.nodes as [Node, Node, Node];
    const client = await redis.client();
    const before = readFileSync(b.project.conf, "utf8");
    // Publish a text that fails validation everywhere straight into Redis, as a broken node would.
    const text = "this is not -> a rule\n";
    const sha = new Bun.CryptoHasher("sha256").update(text).digest("hex");
    await waitFor(
      async () => new Set((await cluster(a)).members.map((m: { config_version: number }) => m.config_version)).size === 1,
      "the nodes to agree first",
      5000,
    );
    const v = await client.send("EVAL", [
      "local v = redis.call('INCR', KEYS[1]); redis.call('HSET', KEYS[2], 'version', v, 'text', ARGV[1], 'sha256', ARGV[2], 'node_id', 'x', 'at', ARGV[3]); return v",
      "2",
      `${c.name}:config:version`,
      `${c.name}:config`,
      text,
      sha,
      String(Date.now()),
    ]);
    await waitFor(
      async () => {
        const m = (await cluster(a)).members.find((x: { node_id: string }) => x.node_id === "b");
        return m?.last_reload_error?.includes(`cluster configuration v${v}`);
      },
      "b's member record to report the refusal",
      5000,
    ).catch(showLogs([b]));
    expect(readFileSync(b.project.conf, "utf8")).toBe(before);
    expect(await (await fetch(`${b.url}/`)).text()).toBe("hello");
  }, 30_000);

  test("one client alternating across the three nodes gets the configured rate once, within 10%", async () => {
    const rps = 20;
    const burst = 20;
    await using c = await startNodes(`default -> ${hello.url}\n`, `[rate_limiting]\nenabled = true\nrequests_per_second = ${rps}\nburst_size = ${burst}`);
    const urls = c.nodes.map((n) => `${n.url}/`);
    const { allowed, seconds, headerOk } = await alternate(urls, 3000);
    const expected = burst + rps * seconds;
    expect({ withinTenPercent: Math.abs(allowed - expected) / expected <= 0.1, headerOk }).toEqual({ withinTenPercent: true, headerOk: true });
  }, 30_000);

  test("a node with worker_threads = 2 takes its tokens from the same Redis bucket as a single-process node", async () => {
    const rps = 20;
    const burst = 20;
    const name = `t${++clusterNo}-${process.pid}`;
    const limit = `[rate_limiting]\nenabled = true\nrequests_per_second = ${rps}\nburst_size = ${burst}`;
    await using a = await startNode(name, "a", `default -> ${hello.url}\n`, limit);
    await using b = await startNode(name, "b", `default -> ${hello.url}\n`, `${limit}\n[logging]\noutput = "file:workers.log"`, 2);
    await waitFor(async () => (await liveIds(a)) === "a,b", "both members", 3 * HEARTBEAT_MS + 2000);
    const { allowed, seconds } = await alternate([`${a.url}/`, `${b.url}/`], 3000, true);
    const expected = burst + rps * seconds;
    expect(Math.abs(allowed - expected) / expected).toBeLessThanOrEqual(0.1);
  }, 30_000);

  test("Redis stopped mid-load: no request fails, nodes say down; back up: a rule added meanwhile reaches every node", async () => {
    await using c = await startNodes(`default -> ${hello.url}\n`);
    const [a, b, cc] = c.nodes as [Node, Node, Node];
    let failed = 0;
    let done = 0;
    let loading = true;
    const load = (async () => {
      for (let i = 0; loading && i < 20_000; i++) {
        const n = c.nodes[i % 3]!;
        const r = await fetch(`${n.url}/`).catch(() => null);
        if (r === null || r.status !== 200 || (await r.text()) !== "hello") failed++;
        done++;
      }
    })();
    await waitFor(() => done > 50, "some load before the outage");
    await redis.stop();
    for (const n of c.nodes) await waitFor(async () => (await cluster(n)).redis === "down", `${n.id} to say redis: down`, 5000);
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    expect(metrics).toContain("proxy_cluster_redis_up 0\n");
    using other = backend(() => new Response("during outage"));
    expect((await api(a.adminUrl, "POST", "routes", { matcher: { type: "exact", value: "/outage" }, targets: [{ url: other.url }] })).status).toBe(201);
    const during = done;
    await waitFor(() => done > during + 50, "load while redis is down");
    await redis.start();
    for (const n of c.nodes) await waitFor(async () => (await cluster(n)).redis === "up", `${n.id} to say redis: up`, 10_000);
    for (const n of [b, cc])
      await waitFor(async () => (await (await fetch(`${n.url}/outage`)).text()) === "during outage", `${n.id} to serve /outage`, 10_000).catch(
        showLogs(c.nodes),
      );
    loading = false;
    await load;
    expect({ failed, some: done > 100 }).toEqual({ failed: 0, some: true });
  }, 60_000);
});

/** Requests as fast as one client can for `ms`, round-robin over `urls`; counts the 200s. */
async function alternate(urls: string[], ms: number, fresh = false): Promise<{ allowed: number; seconds: number; headerOk: boolean }> {
  let allowed = 0;
  let headerOk = true;
  const start = performance.now();
  let i = 0;
  while (performance.now() - start < ms && i < 50_000) {
    // fresh: a new connection each time, so a node's workers share the requests (reusePort).
    const r = await fetch(urls[i++ % urls.length]!, fresh ? { keepalive: false, headers: { connection: "close" } } : {});
    await r.arrayBuffer();
    if (r.status === 200) allowed++;
    else if (r.status !== 429) throw new Error(`unexpected status ${r.status}`);
    // The shared bucket decides: its limit is the configured burst on every node.
    if (r.headers.get("ratelimit-limit") === null) headerOk = false;
  }
  return { allowed, seconds: (performance.now() - start) / 1000, headerOk };
}
