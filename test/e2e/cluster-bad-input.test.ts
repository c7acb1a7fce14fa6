/**
 * Bad input in cluster mode (SPEC §17.6, §17.7): each is a clear error or a logged refusal, the node
 * keeps serving with what it had, and nothing read from Redis is used unchecked.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { validateSettingsText } from "../../src/config/load.ts";
import { api, API_KEY } from "../support/admin.ts";
import { backend, type TestBackend } from "../support/backend.ts";
import { startOnProject, tempProject, type TestProxy } from "../support/project.ts";
import { startRedis, type TestRedis } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";

const PASSWORD = "s3cret-redis-pass";
let redis: TestRedis;
let hello: TestBackend;
let n = 0;

beforeAll(async () => {
  redis = await startRedis({ password: PASSWORD });
  hello = backend(() => new Response("hello"));
});
afterAll(async () => {
  hello.stop();
  await redis[Symbol.asyncDispose]();
});

interface Node extends TestProxy {
  adminUrl: string;
}

async function node(url: string, opts: { name?: string; id?: string; extra?: string; conf?: string } = {}): Promise<Node> {
  const toml = [
    '[server]\nbind = "127.0.0.1:0"\nhttps_port = 0\nworker_threads = 1\nshutdown_grace_period = 1',
    `[admin]\nenabled = true\nbind = "127.0.0.1:0"\napi_key = "${API_KEY}"`,
    `[cluster]\nredis_url = "${url}"\nname = "${opts.name ?? `bad${++n}`}"\nnode_id = "${opts.id ?? "a"}"\nheartbeat_secs = 1`,
    opts.extra ?? "",
  ].join("\n\n");
  const proxy = await startOnProject(tempProject({ "proxy.conf": opts.conf ?? `default -> ${hello.url}\n`, "config.toml": toml }), { env: {} });
  return Object.assign(proxy, { adminUrl: `http://127.0.0.1:${proxy.handle.admin!.port}` });
}

const view = async (p: Node) => (await api(p.adminUrl, "GET", "cluster")).body.data;
const serves = async (p: Node) => (await (await fetch(`${p.url}/`)).text()) === "hello";
const logText = (p: Node) =>
  p
    .logs()
    .map((l) => JSON.stringify(l))
    .join("\n");

describe("bad input in cluster mode (SPEC §17.7)", () => {
  test("a malformed redis_url is a config.toml error that does not repeat the URL", () => {
    const results = ['"http://user:hunter2@127.0.0.1:6379"', '"redis://"', '"not a url"', "6379"].map((v) => {
      const { settings, issues } = validateSettingsText(`[cluster]\nredis_url = ${v}\n`, "config.toml");
      return [settings === null, issues.some((i) => i.severity === "error" && /redis_url/.test(i.message)), issues.some((i) => i.message.includes("hunter2"))];
    });
    expect(results).toEqual([
      [true, true, false],
      [true, true, false],
      [true, true, false],
      [true, false, false], // a wrong type: zod's own type message
    ]);
  });

  test("a wrong password: the node serves, says redis: down once, and never logs the password", async () => {
    await using p = await node(`redis://:wrong-${PASSWORD}@127.0.0.1:${redis.port}`);
    await waitFor(() => logText(p).includes("redis unreachable"), "the outage line");
    expect({ serves: await serves(p), redis: (await view(p)).redis, leaked: logText(p).includes(PASSWORD) }).toEqual({
      serves: true,
      redis: "down",
      leaked: false,
    });
  });

  test("a server that is not Redis (HTTP) on the port: the node serves and reports redis: down", async () => {
    using http = backend(() => new Response("I am HTTP"));
    await using p = await node(`redis://127.0.0.1:${http.port}`);
    await waitFor(() => logText(p).includes("redis unreachable"), "the outage line");
    expect({ serves: await serves(p), redis: (await view(p)).redis }).toEqual({ serves: true, redis: "down" });
  });

  test("a node refused for a duplicate node_id keeps its own proxy.conf: it neither takes nor publishes the cluster's configuration", async () => {
    const url = `redis://:${PASSWORD}@127.0.0.1:${redis.port}`;
    await using first = await node(url, { name: "dupconf", id: "same" });
    await waitFor(async () => (await view(first)).members.length === 1, "the first node to join");
    // Written after the first node's file: without the pause it would be published as the newest.
    await using second = await node(url, { name: "dupconf", id: "same", conf: `/only-here/* -> ${hello.url}\n` });
    await waitFor(() => second.logs().some((l) => String(l.msg).includes("configuration sync paused")), "the second node's sync to pause");
    expect([readFileSync(second.project.conf, "utf8"), readFileSync(first.project.conf, "utf8")]).toEqual([
      `/only-here/* -> ${hello.url}\n`,
      `default -> ${hello.url}\n`,
    ]);
  });

  test("a duplicate node_id is refused at join with an error, and the second node keeps serving", async () => {
    const url = `redis://:${PASSWORD}@127.0.0.1:${redis.port}`;
    await using first = await node(url, { name: "dup", id: "same" });
    await waitFor(async () => (await view(first)).members.length === 1, "the first node to join");
    await using second = await node(url, { name: "dup", id: "same" });
    await waitFor(
      () => second.logs().some((l) => l.level === "error" && String(l.msg).includes("node_id 'same' is already used by a live node")),
      "the refusal",
    );
    const members = (await view(second)).members;
    expect({ members: members.map((m: { node_id: string; gone: boolean }) => [m.node_id, m.gone]), serves: await serves(second) }).toEqual({
      members: [["same", false]],
      serves: true,
    });
  });

  test("a Redis that stops answering (SIGSTOP) holds requests at most about a second, then the node limits locally", async () => {
    const url = `redis://:${PASSWORD}@127.0.0.1:${redis.port}`;
    await using p = await node(url, { name: "paused", extra: "[rate_limiting]\nenabled = true\nrequests_per_second = 1000\nburst_size = 1000" });
    await waitFor(async () => (await view(p)).redis === "up", "redis up");
    redis.pause();
    try {
      const slowest: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        const r = await fetch(`${p.url}/`);
        expect(r.status).toBe(200);
        await r.text();
        slowest.push(performance.now() - t);
      }
      slowest.sort((x, y) => y - x);
      // The first request waits for the command timeout (1 s); the link is then down and the rest are local.
      expect({ first: slowest[0]! < 2500, rest: slowest[1]! < 500, redis: (await view(p)).redis }).toEqual({ first: true, rest: true, redis: "down" });
    } finally {
      redis.resume();
    }
    await waitFor(async () => (await view(p)).redis === "up", "redis up again", 10_000);
  });

  test("garbage under the cluster's keys is refused with a log line and the node keeps what it had", async () => {
    const url = `redis://:${PASSWORD}@127.0.0.1:${redis.port}`;
    // letsencrypt mode so certificates and tokens are read; its CA is down, which is only logged.
    const extra = `[tls]\nmode = "letsencrypt"\n[letsencrypt]\nemail = "ops@example.com"\nterms_agreed = true\ndirectory_url = "http://127.0.0.1:9/dir"`;
    await using p = await node(url, { name: "garbage", extra });
    await waitFor(async () => (await view(p)).redis === "up", "redis up");
    const client = await redis.client();
    const huge = "x".repeat(2 * 1024 * 1024);
    const sha = new Bun.CryptoHasher("sha256").update(huge).digest("hex");
    await client.send("HSET", ["garbage:config", "version", "99", "text", huge, "sha256", sha, "node_id", "evil", "at", String(Date.now() + 1e9)]);
    await client.send("SET", ["garbage:config:version", "99"]);
    await client.send("HSET", ["garbage:certs", "shop.example.com", JSON.stringify({ cert: "not a PEM", key: "nor this" }), "../../etc/passwd", "{}"]);
    await client.send("INCR", ["garbage:certs:version"]);
    await client.send("HSET", ["garbage:acme:tokens", "tok", "not-the-token.thumb", "../x", "y"]);
    await client.send("SET", ["garbage:member:evil", "{not json"]);
    await client.send("ZADD", ["garbage:members", String(Date.now()), "evil"]);
    await waitFor(() => logText(p).includes("ignoring garbage:config"), "the refused configuration");
    await waitFor(() => logText(p).includes("ignoring the stored certificate for shop.example.com"), "the refused certificate");
    const token = await fetch(`${p.url}/.well-known/acme-challenge/tok`);
    const members = (await view(p)).members.map((m: { node_id: string; gone: boolean }) => [m.node_id, m.gone]).sort();
    expect({
      serves: await serves(p),
      token: token.status,
      members,
      certs: (await api(p.adminUrl, "GET", "certs")).body.data.map((c: { name: string }) => c.name),
    }).toEqual({
      serves: true,
      token: 404,
      members: [
        ["a", false],
        ["evil", true],
      ],
      certs: ["self-signed"],
    });
  });
});
