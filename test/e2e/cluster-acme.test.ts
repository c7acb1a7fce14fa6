/**
 * Certificates across nodes (SPEC §17.2) against a real Pebble and a real redis-server: three
 * proxy processes (NODE_EXTRA_CA_CERTS must be set at start, so they are spawned). Pebble validates
 * HTTP-01 on node B's port only, so a certificate ordered by node A is issued only if B answers
 * A's token.
 *
 * Set-up in both tests: B and C start first with a proxy.conf that names no public domain; A then
 * starts with one that names shop.example.com. A's file is newer, so A publishes it, takes the
 * order lock at once, and B and C receive the rule through configuration sync and find the lock
 * taken.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { statSync, utimesSync } from "node:fs";
import { backend, type TestBackend } from "../support/backend.ts";
import { freePort, startPebble, type Pebble } from "../support/pebble.ts";
import { tempProject, type TempProject } from "../support/project.ts";
import { startRedis, type TestRedis } from "../support/redis.ts";
import { spawnProxy, type SpawnedProxy } from "../support/spawn.ts";
import { presented } from "../support/tls.ts";
import { waitFor } from "../support/wait.ts";

let redis: TestRedis;
let site: TestBackend;
let workdir: TempProject;
let clusterNo = 0;

beforeAll(async () => {
  redis = await startRedis();
  site = backend(() => new Response("shop"));
  workdir = tempProject();
});
afterAll(async () => {
  site.stop();
  workdir.remove();
  await redis[Symbol.asyncDispose]();
});

function toml(port: number, cluster: string, id: string, directory: string): string {
  return [
    `[server]\nbind = "127.0.0.1:${port}"\nhttps_port = 0\nworker_threads = 1\nshutdown_grace_period = 1`,
    "[admin]\nenabled = false",
    `[tls]\nmode = "letsencrypt"\n[letsencrypt]\nemail = "ops@example.com"\nterms_agreed = true\ndirectory_url = "${directory}"`,
    `[cluster]\nredis_url = "${redis.url}"\nname = "${cluster}"\nnode_id = "${id}"\nheartbeat_secs = 1`,
  ].join("\n\n");
}

interface Nodes extends AsyncDisposable {
  a: SpawnedProxy;
  b: SpawnedProxy;
  c: SpawnedProxy;
  pebble: Pebble;
  all(): SpawnedProxy[];
}

async function startNodes(): Promise<Nodes> {
  const cluster = `acme${++clusterNo}-${process.pid}`;
  const bPort = await freePort();
  const pebble = await startPebble(workdir.dir, bPort); // validates against node B only
  const env = { NODE_EXTRA_CA_CERTS: pebble.apiCaFile };
  let newest = 0;
  const node = async (id: string, port: number, conf: string, last = false) => {
    const project = tempProject({ "proxy.conf": conf, "config.toml": toml(port, cluster, id, pebble.directory) });
    // Configuration sync dates a file by its mtime: the last node's is made the newest outright,
    // rather than counting on the clock having moved between two writes.
    if (last) utimesSync(project.conf, new Date(), new Date(newest + 1000));
    newest = Math.max(newest, statSync(project.conf).mtimeMs);
    return spawnProxy(project.conf, { env });
  };
  const b = await node("b", bPort, `default -> ${site.url}\n`);
  const c = await node("c", await freePort(), `default -> ${site.url}\n`);
  const a = await node("a", await freePort(), `default -> ${site.url}\nshop.example.com -> ${site.url}\n`, true);
  const all = () => [a, b, c];
  return {
    a,
    b,
    c,
    pebble,
    all,
    [Symbol.asyncDispose]: async () => {
      await Promise.all(all().map((p) => p.stop("SIGKILL")));
      await pebble.stop();
    },
  };
}

const orders = (p: SpawnedProxy) =>
  p
    .output()
    .split("\n")
    .filter((l) => l.includes("ordering a certificate for shop.example.com")).length;
const dump = (n: Nodes) => (err: Error) => {
  throw new Error(`${err.message}\nA:\n${n.a.output()}\nB:\n${n.b.output()}\nC:\n${n.c.output()}\npebble:\n${n.pebble.output()}`);
};

describe("ACME in a cluster (SPEC §17.2)", () => {
  test("A orders, Pebble validates on B, exactly one order is placed, and all three nodes serve the certificate", async () => {
    await using n = await startNodes();
    await waitFor(() => n.a.output().includes("certificate for shop.example.com issued"), "A's certificate", 25_000, 100).catch(dump(n));
    for (const p of n.all()) {
      await waitFor(
        async () => (await presented(p.https, "shop.example.com")).sans.includes("DNS:shop.example.com"),
        "every node to serve the issued certificate",
        5_000,
        100,
      ).catch(dump(n));
    }
    const served = await Promise.all(n.all().map((p) => presented(p.https, "shop.example.com")));
    expect({
      orders: n.all().map(orders),
      // Pebble fetched A's token from B's listener
      validatedOnB: n.pebble.output().includes(`http://shop.example.com:${n.b.http}/.well-known/acme-challenge/`),
      sameCertificate: new Set(served.map((s) => s.serial)).size,
      waited: [n.b, n.c].every((p) => p.output().includes("is being ordered or was issued by another node")),
    }).toEqual({ orders: [1, 0, 0], validatedOnB: true, sameCertificate: 1, waited: true });
  }, 60_000);

  test("the lock holder killed mid-order: another node takes the lock after it expires and completes the order", async () => {
    await using n = await startNodes();
    await waitFor(() => orders(n.a) === 1, "A to start ordering", 20_000, 20).catch(dump(n));
    n.a.proc.kill("SIGKILL");
    await waitFor(
      () => [n.b, n.c].some((p) => p.output().includes("certificate for shop.example.com issued")),
      "B or C to complete the order",
      30_000,
      100,
    ).catch(dump(n));
    for (const p of [n.b, n.c]) {
      await waitFor(async () => (await presented(p.https, "shop.example.com")).sans.includes("DNS:shop.example.com"), "B and C to serve it", 5_000, 100).catch(
        dump(n),
      );
    }
    expect([n.b, n.c].map(orders).sort()).toEqual([0, 1]);
  }, 60_000);
});
