/**
 * Issue 20, finding 6: header names with `_` read as the dashed headers the proxy controls by a
 * WSGI backend (python3's wsgiref), as by CGI and Rack (cf. CVE-2024-45614).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { startTestProxy } from "../support/project.ts";
import { rawRequest } from "../support/raw.ts";

const HASH = await Bun.password.hash("s3cret", { algorithm: "bcrypt", cost: 4 });
let wsgi: Bun.Subprocess<"ignore", "pipe", "inherit">;
let wsgiUrl: string;

beforeAll(async () => {
  wsgi = Bun.spawn(["python3", join(import.meta.dir, "..", "fixtures", "wsgi_echo.py")], { stdout: "pipe", stderr: "inherit" });
  const reader = wsgi.stdout.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  wsgiUrl = `http://127.0.0.1:${Number(new TextDecoder().decode(value).trim())}`;
});
afterAll(() => wsgi?.kill());

const FORGED = "X_Real_IP: 6.6.6.6\r\nX_Forwarded_For: 6.6.6.6\r\nX_Auth_Subject: root\r\nX_Custom_Thing: kept?\r\n";

/** The WSGI environ the backend saw for a raw request with `headers`. */
async function environ(port: number, headers: string): Promise<Record<string, string>> {
  const answer = await rawRequest(port, `GET /whoami HTTP/1.1\r\nHost: app.test\r\n${headers}Connection: close\r\n\r\n`);
  return JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4));
}

describe("header names with underscores (SPEC §5.6, server.underscores_in_headers)", () => {
  test("are dropped by default, so a WSGI app sees only the proxy's X-Real-IP, X-Forwarded-For and X-Auth-Subject", async () => {
    await using proxy = await startTestProxy(`/whoami -> ${wsgiUrl} @auth:admin:${HASH}\n`);
    const env = await environ(proxy.handle.http.port, `${FORGED}Authorization: Basic ${btoa("admin:s3cret")}\r\n`);
    expect([env.HTTP_X_REAL_IP, env.HTTP_X_FORWARDED_FOR, env.HTTP_X_AUTH_SUBJECT, env.HTTP_X_CUSTOM_THING]).toEqual([
      "127.0.0.1",
      "127.0.0.1",
      "admin",
      undefined,
    ]);
  });

  test("with underscores_in_headers = true other names pass, but never one the proxy sets or strips", async () => {
    await using proxy = await startTestProxy(`default -> ${wsgiUrl}\n`, { server: "underscores_in_headers = true" });
    const env = await environ(proxy.handle.http.port, FORGED);
    expect([env.HTTP_X_REAL_IP, env.HTTP_X_FORWARDED_FOR, env.HTTP_X_AUTH_SUBJECT, env.HTTP_X_CUSTOM_THING]).toEqual([
      "127.0.0.1",
      "127.0.0.1",
      undefined,
      "kept?",
    ]);
  });
});
