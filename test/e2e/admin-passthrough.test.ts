/**
 * The `_admin` app behind the admin listener (SPEC §11.2): every path that is not the API or the
 * dashboard reaches it, over HTTP and WebSocket alike, without the admin credentials and with the
 * forwarding headers of SPEC §5.6.
 */
import { describe, expect, test } from "bun:test";
import { API_KEY } from "../support/admin.ts";
import { startAppsProxy } from "../support/apps.ts";

describe("the _admin passthrough (SPEC §11.2)", () => {
  test("HTTP and WebSocket reach a real _admin app without the admin credentials, with forwarding headers and Host as sent", async () => {
    await using proxy = await startAppsProxy({ admin: true, apps: { _admin: {} } });
    const admin = `127.0.0.1:${proxy.handle.admin!.port}`;
    const sent = { "x-api-key": API_KEY, authorization: "Basic Zm9vOmJhcg==", "x-forwarded-for": "6.6.6.6", "x-real-ip": "6.6.6.6", "x-custom": "kept" };

    const res = await fetch(`http://${admin}/panel/page?x=1`, { headers: sent });
    const body = (await res.json()) as { path: string; headers: Record<string, string> };

    const ws = new WebSocket(`ws://${admin}/live?y=2`, { headers: sent } as unknown as string[]);
    const messages: string[] = [];
    const closed = new Promise<number>((done) => ws.addEventListener("close", (e) => done(e.code)));
    await new Promise<void>((ready, fail) => {
      ws.addEventListener("message", (e) => {
        messages.push(String(e.data));
        if (messages.length === 1) ws.send("ping over the admin port");
        if (messages.length === 2) ready();
      });
      ws.addEventListener("error", () => fail(new Error("WebSocket error")));
    });
    ws.close(4001, "done");
    const wsHeaders = (JSON.parse(messages[0]!) as { headers: Record<string, string> }).headers;

    const forwarded = (h: Record<string, string>) => ({
      host: h.host,
      "x-forwarded-for": h["x-forwarded-for"],
      "x-real-ip": h["x-real-ip"],
      "x-forwarded-proto": h["x-forwarded-proto"],
      "x-forwarded-host": h["x-forwarded-host"],
      "x-custom": h["x-custom"],
      credentials: [h["x-api-key"], h.authorization],
    });
    const expected = {
      host: admin,
      "x-forwarded-for": "127.0.0.1",
      "x-real-ip": "127.0.0.1",
      "x-forwarded-proto": "http",
      "x-forwarded-host": admin,
      "x-custom": "kept",
      credentials: [undefined, undefined],
    };
    expect({ status: res.status, path: body.path, http: forwarded(body.headers), ws: forwarded(wsHeaders), echo: messages[1], close: await closed }).toEqual({
      status: 200,
      path: "/panel/page",
      http: expected,
      ws: expected,
      echo: "ping over the admin port",
      close: 4001,
    });
  });

  test("without credentials the passthrough answers 401 like the API, for HTTP and WebSocket", async () => {
    await using proxy = await startAppsProxy({ admin: true, apps: { _admin: {} } });
    const admin = `127.0.0.1:${proxy.handle.admin!.port}`;
    const res = await fetch(`http://${admin}/panel`);
    const upgrade = await fetch(`http://${admin}/live`, {
      headers: { upgrade: "websocket", connection: "Upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" },
    });
    expect([res.status, await res.json(), upgrade.status]).toEqual([401, { ok: false, error: "Unauthorized" }, 401]);
  });
});
