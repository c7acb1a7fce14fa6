/**
 * `rediss://` against a real redis-server with TLS (SPEC §17, §4 cluster.redis_url): a certificate
 * from a private CA is refused until its CA is in NODE_EXTRA_CA_CERTS, and the refusal says so
 * (Bun alone reports only "Connection closed"). The certificates are made with openssl.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pino from "pino";
import { RedisLink } from "../../src/cluster/redis.ts";
import { freePortBlock } from "../support/apps.ts";
import { waitFor } from "../support/wait.ts";

const PASSWORD = "tls-Secret-9";
let dir = "";
let port = 0;
let redis: Subprocess | null = null;

function openssl(...args: string[]): void {
  const run = Bun.spawnSync(["openssl", ...args], { cwd: dir, stdout: "ignore", stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`openssl ${args[0]}: ${run.stderr.toString()}`);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "soli-redis-tls-"));
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=soli test CA");
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "redis.key", "-out", "redis.csr", "-subj", "/CN=127.0.0.1");
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
  openssl("x509", "-req", "-in", "redis.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "redis.crt", "-days", "1", "-extfile", "ext.cnf");
  writeFileSync(join(dir, "users.acl"), `user default off\nuser soli on >${PASSWORD} ~* &* +@all\n`);
  port = freePortBlock(1);
  redis = Bun.spawn(
    [
      "redis-server",
      "--port",
      "0",
      "--tls-port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--tls-cert-file",
      "redis.crt",
      "--tls-key-file",
      "redis.key",
      "--tls-ca-cert-file",
      "ca.crt",
      "--tls-auth-clients",
      "no",
      "--aclfile",
      join(dir, "users.acl"),
      "--dir",
      dir,
      "--save",
      "",
      "--appendonly",
      "no",
    ],
    { cwd: dir, stdout: "ignore", stderr: "ignore" },
  );
  // Listening is enough here: the TLS handshake is what the tests are about.
  await waitFor(async () => {
    const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    socket.end();
    return true;
  }, "redis-server's TLS port to listen");
});

afterAll(async () => {
  redis?.kill("SIGKILL");
  await redis?.exited;
  rmSync(dir, { recursive: true, force: true });
});

describe("rediss://", () => {
  test("a Redis whose certificate comes from an untrusted CA is reported down with where the CA goes, without the password", async () => {
    const lines: string[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
    const link = new RedisLink({ url: `rediss://soli:${PASSWORD}@127.0.0.1:${port}`, log: () => log });
    try {
      await link.start();
      expect(link.status).toBe("down");
      const warning = lines.find((l) => l.includes("redis unreachable")) ?? "";
      expect(warning).toContain("NODE_EXTRA_CA_CERTS");
      expect(lines.join("")).not.toContain(PASSWORD);
    } finally {
      link.close();
    }
  });

  test("with the CA in NODE_EXTRA_CA_CERTS an ACL user and password connect over TLS", async () => {
    const script = join(dir, "connect.ts");
    writeFileSync(
      script,
      `import { RedisLink } from ${JSON.stringify(resolve(import.meta.dir, "../../src/cluster/redis.ts"))};
import pino from "pino";
const link = new RedisLink({ url: process.argv[2]!, log: () => pino({ level: "silent" }) });
await link.start();
const reply = link.up ? await link.send("ACL", ["WHOAMI"]) : "down";
console.log(String(reply));
link.close();
`,
    );
    const run = Bun.spawn([process.execPath, script, `rediss://soli:${PASSWORD}@127.0.0.1:${port}`], {
      cwd: resolve(import.meta.dir, "../.."),
      env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, "ca.crt") },
      stdout: "pipe",
      stderr: "pipe",
    });
    const timer = setTimeout(() => run.kill("SIGKILL"), 15_000);
    const [out, err] = [await new Response(run.stdout).text(), await new Response(run.stderr).text()];
    clearTimeout(timer);
    expect({ out: out.trim(), err }).toEqual({ out: "soli", err: "" });
  });
});
