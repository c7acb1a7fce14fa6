/**
 * Issue 20, finding 8: wrong passwords are throttled per client before any bcrypt runs, so they
 * cannot be turned into a CPU lever against everyone's logins.
 */
import { describe, expect, test } from "bun:test";
import net from "node:net";
import { backend } from "../support/backend.ts";
import { startTestProxy } from "../support/project.ts";
import { statusOf } from "../support/raw.ts";

const HASH = await Bun.password.hash("s3cret", { algorithm: "bcrypt", cost: 4 });
const KEY_DIGEST = `sha256:${new Bun.CryptoHasher("sha256").update("mykey").digest("hex")}`;
const basic = (user: string, password: string) => `Basic ${btoa(`${user}:${password}`)}`;

/** One request from `from` (a loopback address) with `headers`; the raw answer. */
function request(port: number, from: string, path: string, headers: string): Promise<string> {
  return new Promise((resolve) => {
    let out = "";
    const socket = net.connect({ port, host: "127.0.0.1", localAddress: from }, () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: app.test\r\n${headers}Connection: close\r\n\r\n`),
    );
    socket.on("data", (d) => (out += d.toString("latin1")));
    socket.on("close", () => resolve(out));
    socket.on("error", () => resolve(out));
  });
}

describe("failed authentication attempts are throttled per client", () => {
  test("Basic: after 10 wrong passwords the client gets 429 with Retry-After without a verification, while another client logs in", async () => {
    using b = backend();
    await using proxy = await startTestProxy(`/admin/* -> ${b.url} @auth:admin:${HASH}\n`);
    const port = proxy.handle.http.port;
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push(statusOf(await request(port, "127.0.0.1", "/admin/x", `Authorization: ${basic("admin", `wrong${i}`)}\r\n`)));
    expect(statuses).toEqual([...Array(10).fill(401), 429, 429]);
    const refused = await request(port, "127.0.0.1", "/admin/x", `Authorization: ${basic("admin", "s3cret")}\r\n`);
    expect(statusOf(refused)).toBe(429);
    expect(Number(/retry-after: (\d+)/i.exec(refused)?.[1])).toBeGreaterThanOrEqual(1);
    // Concurrent guesses cannot overtake the bucket: each takes its token before bcrypt starts, and
    // beyond two verifications in progress for this client the answer is 429 too (503 would mean
    // the whole process is at its bound).
    const burst = (
      await Promise.all(Array.from({ length: 30 }, (_, i) => request(port, "127.0.0.3", "/admin/x", `Authorization: ${basic("admin", `w${i}`)}\r\n`)))
    ).map(statusOf);
    expect(burst.filter((s) => s === 401).length).toBeLessThanOrEqual(10);
    expect(burst.filter((s) => s === 429).length).toBeGreaterThanOrEqual(20 - burst.filter((s) => s === 503).length);
    expect(burst.every((s) => s === 401 || s === 429 || s === 503)).toBe(true);
    expect(statusOf(await request(port, "127.0.0.2", "/admin/x", `Authorization: ${basic("admin", "s3cret")}\r\n`))).toBe(200);
    expect(b.seen.length).toBe(1);
  });

  test("a successful login gives its token back, so a user who types well is never throttled", async () => {
    using b = backend();
    await using proxy = await startTestProxy(`/admin/* -> ${b.url} @auth:admin:${HASH}\n`);
    const port = proxy.handle.http.port;
    const statuses: number[] = [];
    // Distinct headers each time would need a verification; the same right one is cached after the first.
    for (let i = 0; i < 15; i++) statuses.push(statusOf(await request(port, "127.0.0.1", "/admin/x", `Authorization: ${basic("admin", "s3cret")}\r\n`)));
    expect(statuses).toEqual(Array(15).fill(200));
  });

  test("API keys: wrong keys are throttled the same way", async () => {
    using b = backend();
    await using proxy = await startTestProxy(`/api/* -> ${b.url}\n/api/* {\n    auth: api_key\n}\n`, { toml: `[auth.api_keys]\nci = "${KEY_DIGEST}"\n` });
    const port = proxy.handle.http.port;
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push(statusOf(await request(port, "127.0.0.1", "/api/x", `X-Api-Key: guess${i}\r\n`)));
    expect(statuses).toEqual([...Array(10).fill(401), 429]);
    expect(statusOf(await request(port, "127.0.0.2", "/api/x", "X-Api-Key: mykey\r\n"))).toBe(200);
  });
});
