/**
 * Spellings a hostile client tries after the path and host normalisation of SPEC §5.3 (found by
 * trying the merged proxy as an attacker would): servlet `;` parameters, Host names with an empty
 * label, and forwarding headers the proxy does not write itself but frameworks believe.
 */
import { describe, expect, test } from "bun:test";
import { backend } from "../support/backend.ts";
import { startTestProxy } from "../support/project.ts";
import { rawRequest, statusOf } from "../support/raw.ts";

const HASH = await Bun.password.hash("s3cret", { algorithm: "bcrypt", cost: 4 });

const get = (port: number, path: string, host = "a.test", extra = "") =>
  rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`);

describe("other spellings of a protected resource", () => {
  test("a ';' parameter that would move a request off a protected rule is refused with 400 and never reaches a backend", async () => {
    using app = backend();
    await using proxy = await startTestProxy(`/auth/* -> ${app.url} @auth:admin:${HASH}\ndefault -> ${app.url}\n`);
    const port = proxy.handle.http.port;
    const statuses: number[] = [];
    // Tomcat, Jetty and Spring read each of these as /auth/x.
    for (const path of ["/auth;x=1/x", "/auth;/x", "/auth;jsessionid=1/x"]) statuses.push(statusOf(await get(port, path)));
    expect([statuses, app.seen.length]).toEqual([[400, 400, 400], 0]);
    const refusal = proxy.logs().find((l) => String(l.reason ?? l.err ?? l.msg).includes("';' parameters change which rule applies"));
    expect(refusal).toBeDefined();
  });

  test("a ';' parameter that keeps the request on the same rule passes as sent (jsessionid URLs keep working)", async () => {
    using app = backend();
    await using proxy = await startTestProxy(`/auth/* -> ${app.url} @auth:admin:${HASH}\ndefault -> ${app.url}\n`);
    const port = proxy.handle.http.port;
    const [open, guarded] = [await get(port, "/shop;jsessionid=1/cart"), await get(port, "/auth/x;jsessionid=1")];
    expect([statusOf(open), statusOf(guarded), app.seen.map((s) => s.path)]).toEqual([200, 401, ["/shop;jsessionid=1/cart"]]);
  });

  test("a case-insensitive regex rule, as the README advises for case-insensitive backends, protects every case of its path", async () => {
    using app = backend();
    // More than 8 path rules, so the first-segment index is in use too.
    const fillers = Array.from({ length: 10 }, (_, i) => `/p${i}/* -> ${app.url}\n`).join("");
    await using proxy = await startTestProxy(`${fillers}~^/(?i:auth)(/|$) -> ${app.url} @auth:admin:${HASH}\ndefault -> ${app.url}\n`);
    const port = proxy.handle.http.port;
    const statuses: number[] = [];
    for (const path of ["/auth/x", "/AUTH/x", "/Auth", "/authx"]) statuses.push(statusOf(await get(port, path)));
    expect([statuses, app.seen.map((s) => s.path)]).toEqual([[401, 401, 401, 200], ["/authx"]]);
  });

  test("a Host with an empty label is a 400, not a request for `default` carrying that Host", async () => {
    using app = backend();
    await using proxy = await startTestProxy(`secret.example.com -> ${app.url} @auth:admin:${HASH}\ndefault -> ${app.url}\n`);
    const port = proxy.handle.http.port;
    const statuses: number[] = [];
    for (const host of ["secret.example.com..", ".secret.example.com", "secret..example.com", "secret.example.com..:80"])
      statuses.push(statusOf(await get(port, "/", host)));
    // One trailing dot is the same name (SPEC §5.3) and meets the rule and its auth.
    statuses.push(statusOf(await get(port, "/", "secret.example.com.")));
    expect([statuses, app.seen.length]).toEqual([[400, 400, 400, 400, 401], 0]);
  });
});

describe("headers the proxy decides on (SPEC §5.6)", () => {
  const sent = "X-Forwarded-Port: 1\r\nX-Forwarded-Prefix: /evil\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n";

  test("an untrusted client's X-Forwarded-Port and X-Forwarded-Prefix, and the connection-specific HTTP2-Settings, never reach the backend", async () => {
    using app = backend();
    await using proxy = await startTestProxy(`default -> ${app.url}\n`);
    await get(proxy.handle.http.port, "/x", "a.test", sent);
    const h = app.seen[0]!.headers;
    expect([h["x-forwarded-port"], h["x-forwarded-prefix"], h["http2-settings"]]).toEqual([undefined, undefined, undefined]);
  });

  test("a trusted proxy's X-Forwarded-Port and X-Forwarded-Prefix are passed on", async () => {
    using app = backend();
    await using proxy = await startTestProxy(`default -> ${app.url}\n`, { server: 'trusted_proxies = ["127.0.0.1/32"]' });
    await get(proxy.handle.http.port, "/x", "a.test", sent);
    const h = app.seen[0]!.headers;
    expect([h["x-forwarded-port"], h["x-forwarded-prefix"], h["http2-settings"]]).toEqual(["1", "/evil", undefined]);
  });
});
