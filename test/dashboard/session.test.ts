/**
 * Dashboard credentials (SPEC §18, §11.1) on a real admin listener: the sign-in exchange, what a
 * session cookie may and may not do, Basic and the open-admin banner, and SSE streams that end
 * when their client goes away.
 */
import { describe, expect, test } from "bun:test";
import { openStreams } from "../../src/admin/sse.ts";
import { adminToml, API_KEY, startAdminProxy } from "../support/admin.ts";
import { rawRequest, statusOf } from "../support/raw.ts";
import { waitFor } from "../support/wait.ts";

const CONF = "localhost -> http://127.0.0.1:9/\n";

/** Signs in through POST /ui/login and returns the `name=value` of the session cookie. */
async function signIn(admin: string, key = API_KEY): Promise<{ status: number; cookie: string | null; setCookie: string }> {
  const res = await fetch(`${admin}/ui/login`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-requested-with": "test" },
    body: JSON.stringify({ api_key: key }),
  });
  const setCookie = res.headers.get("set-cookie") ?? "";
  return { status: res.status, cookie: setCookie ? setCookie.split(";")[0]! : null, setCookie };
}

describe("dashboard sessions", () => {
  test("a right api_key gets a signed 12 h HttpOnly SameSite=Strict cookie that opens the pages and the API; a wrong one gets 401 and no cookie", async () => {
    await using proxy = await startAdminProxy(CONF);
    const wrong = await signIn(proxy.adminUrl, "nope");
    expect(wrong.status).toBe(401);
    expect(wrong.cookie).toBeNull();

    const right = await signIn(proxy.adminUrl);
    expect(right.status).toBe(200);
    expect(right.setCookie).toMatch(/HttpOnly/i);
    expect(right.setCookie).toMatch(/SameSite=Strict/i);
    expect(right.setCookie).toMatch(/Max-Age=43200/);
    expect(right.setCookie).not.toMatch(/Secure/i);

    const page = await fetch(`${proxy.adminUrl}/ui/routes`, { headers: { cookie: right.cookie! }, redirect: "manual" });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<h1>Routes</h1>");
    const routes = await fetch(`${proxy.adminUrl}/api/v1/routes`, { headers: { cookie: right.cookie! } });
    expect(routes.status).toBe(200);
    const none = await fetch(`${proxy.adminUrl}/ui/routes`, { redirect: "manual" });
    expect(none.status).toBe(303);
    expect(none.headers.get("location")).toBe("/ui/login");
  });

  test("signing out ends that session on the server: a copy of its cookie is refused afterwards, another session stays signed in", async () => {
    await using proxy = await startAdminProxy(CONF);
    const mine = await signIn(proxy.adminUrl);
    const other = await signIn(proxy.adminUrl);
    const status = async (cookie: string) => (await fetch(`${proxy.adminUrl}/api/v1/status`, { headers: { cookie } })).status;
    const before = await status(mine.cookie!);
    const out = await fetch(`${proxy.adminUrl}/ui/logout`, { method: "POST", headers: { cookie: mine.cookie!, "x-requested-with": "test" } });
    expect([before, out.status, out.headers.get("set-cookie")?.startsWith("soli_session=;"), await status(mine.cookie!), await status(other.cookie!)]).toEqual([
      200,
      200,
      true,
      401,
      200,
    ]);
  });

  test("the cookie is Secure when a TLS front on loopback says the browser used HTTPS", async () => {
    await using proxy = await startAdminProxy(CONF);
    const res = await fetch(`${proxy.adminUrl}/ui/login`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-requested-with": "test", "x-forwarded-proto": "https" },
      body: JSON.stringify({ api_key: API_KEY }),
    });
    expect(res.headers.get("set-cookie")).toMatch(/;\s*Secure/i);
  });

  test("a cookie from before a restart, a forged cookie and one made for another key are refused", async () => {
    let old: string;
    {
      await using first = await startAdminProxy(CONF);
      old = (await signIn(first.adminUrl)).cookie!;
      expect((await fetch(`${first.adminUrl}/api/v1/status`, { headers: { cookie: old } })).status).toBe(200);
    }
    await using proxy = await startAdminProxy(CONF);
    const status = (cookie: string) => fetch(`${proxy.adminUrl}/api/v1/status`, { headers: { cookie } }).then((r) => r.status);
    expect(await status(old)).toBe(401);
    const [name, value] = old.split("=") as [string, string];
    const [expires, rest] = decodeURIComponent(value).split(".", 2) as [string, string];
    // Expiry pushed into the future with the old signature: the MAC no longer matches.
    expect(await status(`${name}=${encodeURIComponent(`${Number(expires) + 1e9}.${decodeURIComponent(value).slice(expires.length + 1)}`)}`)).toBe(401);
    expect(await status(`${name}=${encodeURIComponent(`9999999999999.${rest}`)}`)).toBe(401);
    expect(await status(`${name}=garbage`)).toBe(401);
    const fresh = (await signIn(proxy.adminUrl)).cookie!;
    expect(await status(fresh)).toBe(200);

    // Changing the key ends the sessions issued for the old one.
    await using other = await startAdminProxy(CONF, { toml: adminToml(`api_key = "another-key"`) });
    const otherCookie = (await signIn(other.adminUrl, "another-key")).cookie!;
    expect(await status(otherCookie)).toBe(401);
  });

  test("a cross-site POST is refused even with a valid session cookie: no X-Requested-With, no write", async () => {
    await using proxy = await startAdminProxy(CONF);
    const { cookie } = await signIn(proxy.adminUrl);
    const rule = { matcher: { type: "domain", value: "evil.localhost" }, targets: [{ url: "http://127.0.0.1:9/" }] };
    const forged = await fetch(`${proxy.adminUrl}/api/v1/routes`, {
      method: "POST",
      headers: { cookie: cookie!, "content-type": "text/plain", origin: "https://evil.example" },
      body: JSON.stringify(rule),
    });
    expect(forged.status).toBe(403);
    expect(await Bun.file(proxy.project.conf).text()).toBe(CONF);
    const login = await fetch(`${proxy.adminUrl}/ui/login`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ api_key: API_KEY }),
    });
    expect(login.status).toBe(403);
    expect(login.headers.get("set-cookie")).toBeNull();
    // The same write from the dashboard (same origin, X-Requested-With) lands.
    const ok = await fetch(`${proxy.adminUrl}/api/v1/routes`, {
      method: "POST",
      headers: { cookie: cookie!, "content-type": "application/json", "x-requested-with": "soli-dashboard" },
      body: JSON.stringify(rule),
    });
    expect(ok.status).toBe(201);
    expect(await Bun.file(proxy.project.conf).text()).toContain("evil.localhost");
  });

  test("with Basic only the browser is asked for a password, and the pages open with it", async () => {
    const hash = await Bun.password.hash("pw", { algorithm: "bcrypt", cost: 4 });
    await using proxy = await startAdminProxy(CONF, { toml: adminToml(""), env: { ADMIN_USER: "admin", ADMIN_PASSWORD: hash } });
    const anonymous = await fetch(`${proxy.adminUrl}/`, { redirect: "manual" });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toBe('Basic realm="Admin"');
    const page = await fetch(`${proxy.adminUrl}/`, { headers: { authorization: `Basic ${btoa("admin:pw")}` } });
    expect(page.status).toBe(200);
    expect(await page.text()).not.toContain("This admin is open");
  });

  test("an open loopback admin shows a banner on every page; static assets need no credentials", async () => {
    await using open = await startAdminProxy(CONF, { toml: adminToml("") });
    const page = await fetch(`${open.adminUrl}/ui/certs`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("This admin is open");
    await using keyed = await startAdminProxy(CONF);
    const asset = await fetch(`${keyed.adminUrl}/ui/assets/client.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get("content-type")).toContain("javascript");
    // A dot-segment path does not borrow the assets' exemption (sent as is, not normalized by fetch).
    for (const path of ["/ui/assets/../../api/v1/status", "/ui/assets/%2e%2e/%2e%2e/api/v1/status", "/ui/login/../../api/v1/status"]) {
      const answer = await rawRequest(Number(new URL(keyed.adminUrl).port), `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      expect({ path, status: statusOf(answer) }).not.toEqual({ path, status: 200 });
      expect(answer).not.toContain("uptime_secs");
    }
    expect((await fetch(`${keyed.adminUrl}/ui/assets/nope.js`)).status).toBe(404);
  });
});

describe("DNS rebinding", () => {
  test("a Host that is neither a loopback name nor the admin.bind host gets 421 before anything else", async () => {
    await using proxy = await startAdminProxy(CONF, { toml: adminToml("") }); // open: the case rebinding would exploit
    const port = Number(new URL(proxy.adminUrl).port);
    const get = (host: string, path = "/") => rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`).then(statusOf);
    expect(await get("evil.example")).toBe(421);
    expect(await get(`evil.example:${port}`, "/api/v1/status")).toBe(421);
    expect(await get("127.0.0.1.evil.example")).toBe(421);
    expect(await get(`localhost:${port}`)).toBe(200);
    expect(await get("dash.localhost")).toBe(200);
    expect(await get(`[::1]:${port}`)).toBe(200);
    expect(await get(`127.0.0.1:${port}`, "/api/v1/status")).toBe(200);
  });
});

describe("dashboard streams", () => {
  test("SSE clients that vanish leave no stream, timer or subscription behind", async () => {
    await using proxy = await startAdminProxy(CONF);
    await waitFor(() => openStreams() === 0, "no stream from an earlier test");
    const paths = ["api/v1/events/metrics", "ui/events/overview", "ui/events/routes", "ui/events/certs", "api/v1/events/apps"];
    const clients = paths.map((p) => {
      const abort = new AbortController();
      const res = fetch(`${proxy.adminUrl}/${p}`, { headers: { "x-api-key": API_KEY }, signal: abort.signal });
      return { abort, res };
    });
    const first = await Promise.all(
      clients.map(async ({ res }) => {
        const r = await res;
        expect(r.headers.get("content-type")).toBe("text/event-stream");
        const reader = r.body!.getReader();
        const { value } = await reader.read();
        return new TextDecoder().decode(value);
      }),
    );
    expect(first.every((text) => text.startsWith(": connected"))).toBe(true);
    expect(openStreams()).toBe(paths.length);
    for (const { abort } of clients) abort.abort();
    await waitFor(() => openStreams() === 0, "every stream to close after its client went away");
  });

  test("the metrics stream starts with the kept series and then sends a point every second", async () => {
    await using proxy = await startAdminProxy(CONF);
    const abort = new AbortController();
    const res = await fetch(`${proxy.adminUrl}/api/v1/events/metrics`, { headers: { "x-api-key": API_KEY }, signal: abort.signal });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    const started = Date.now();
    while (!text.includes("event: point") && Date.now() - started < 5000) text += (await reader.read()).value ?? "";
    abort.abort();
    expect(text).toContain("event: series\ndata: [");
    const point = JSON.parse(text.split("event: point\ndata: ")[1]!.split("\n")[0]!);
    expect(Object.keys(point).sort()).toEqual(["errors", "in_flight", "p50_ms", "p99_ms", "rps", "status", "t", "upstream_errors"]);
  });
});
