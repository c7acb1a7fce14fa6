/**
 * Issue 20, finding 3: DNS rebinding cannot drive the open loopback admin API, and `headers {}`
 * values (an upstream `Authorization: Bearer …`) never leave it.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { adminHostAllowed } from "../../src/admin/guard.ts";
import { adminToml, api, startAdminProxy } from "../support/admin.ts";
import { rawRequest, statusOf } from "../support/raw.ts";

const CONF = "/api/* -> http://127.0.0.1:9\nheaders {\n    Authorization: Bearer upstream-s3cret\n    -X-Drop\n}\ndefault -> http://127.0.0.1:9\n";

describe("admin API Host check and header redaction (SPEC §11.1)", () => {
  test("an open loopback admin answers 421 to a rebound name, before auth, CSRF or routing, and answers loopback names, IP literals and the bind host", async () => {
    await using proxy = await startAdminProxy(CONF, { toml: adminToml("") });
    const port = proxy.handle.admin!.port;
    const get = (host: string, path = "/api/v1/config") => rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    const post = (host: string) =>
      rawRequest(
        port,
        `POST /api/v1/routes HTTP/1.1\r\nHost: ${host}\r\nX-Requested-With: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
      );
    expect(statusOf(await get(`attacker.example:${port}`))).toBe(421);
    expect(statusOf(await get("attacker.example."))).toBe(421);
    expect(statusOf(await get("localhost.attacker.example"))).toBe(421);
    expect(statusOf(await post(`rebind.attacker.example:${port}`))).toBe(421);
    expect(statusOf(await get(`attacker.example:${port}`, "/no-such-path"))).toBe(421);
    for (const host of [`localhost:${port}`, "LOCALHOST.", `app.localhost:${port}`, `127.0.0.1:${port}`, "[::1]", "127.0.0.1"]) {
      expect([host, statusOf(await get(host))]).toEqual([host, 200]);
    }
    // The control socket is unchanged: only the proxy's own user can reach it.
    const viaSocket = await fetch("http://attacker.example/api/v1/status", { unix: proxy.handle.controlSocket! } as RequestInit);
    expect(viaSocket.status).toBe(200);
  });

  test("the admin.bind host is accepted when it is a name, other names are not", () => {
    expect(adminHostAllowed("admin.internal:9090", "admin.internal:9090")).toBe(true);
    expect(adminHostAllowed("ADMIN.internal.", "admin.internal:9090")).toBe(true);
    expect(adminHostAllowed("other.internal:9090", "admin.internal:9090")).toBe(false);
    expect(adminHostAllowed("bad host", "127.0.0.1:9090")).toBe(false);
  });

  test('headers {} values are shown as "" by /routes and /config, the file keeps them, and a PUT of what GET showed keeps them', async () => {
    await using proxy = await startAdminProxy(CONF);
    const routes = await api(proxy.adminUrl, "GET", "routes");
    expect(routes.body.data[0].headers).toEqual([
      { name: "Authorization", value: "" },
      { name: "X-Drop", value: null },
    ]);
    const config = await api(proxy.adminUrl, "GET", "config");
    expect(JSON.stringify(config.body)).not.toContain("upstream-s3cret");
    expect(JSON.stringify(routes.body)).not.toContain("upstream-s3cret");
    const rule = routes.body.data[0];
    const put = await api(proxy.adminUrl, "PUT", "routes/0", rule);
    expect(put.status).toBe(200);
    expect(readFileSync(proxy.project.conf, "utf8")).toContain("Authorization: Bearer upstream-s3cret");
  });
});
