/**
 * Issue 20, findings 1 and 5: the path and host the proxy judges are the ones the backend serves.
 * The backend is a real nginx, which decodes, merges slashes and resolves dot segments itself.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startNginx, type Nginx } from "../support/nginx.ts";
import { startTestProxy, type TestProxy } from "../support/project.ts";
import { rawRequest, statusOf } from "../support/raw.ts";

const HASH = await Bun.password.hash("s3cret", { algorithm: "bcrypt", cost: 4 });
const CREDS = `Basic ${btoa("admin:s3cret")}`;

/** curl with the path sent as written; answers `<http_version> <status> <body>`. */
async function curl(...args: string[]): Promise<string> {
  const p = Bun.spawn(["curl", "-s", "-k", "--path-as-is", "--max-time", "10", "-w", " %{http_version} %{http_code}", ...args], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = await new Response(p.stdout).text();
  await p.exited;
  const m = /^(.*) (\S+) (\d{3})$/s.exec(out);
  return m ? `${m[2]} ${m[3]} ${m[1]}` : out;
}

let nginx: Nginx;
let proxy: TestProxy;

beforeAll(async () => {
  nginx = await startNginx();
  const conf = [
    `secret.example.com -> ${nginx.url} @auth:admin:${HASH}`,
    `/auth/* -> ${nginx.url} @auth:admin:${HASH}`,
    `/exact -> ${nginx.url}/exact @auth:admin:${HASH}`,
    `default -> ${nginx.url}`,
    "",
  ].join("\n");
  proxy = await startTestProxy(conf);
});
afterAll(async () => {
  await proxy?.stop();
  await nginx?.[Symbol.asyncDispose]();
});

const http1 = (path: string, host = "app.test", extra = "") =>
  rawRequest(proxy.handle.http.port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`);

describe("path normalisation against nginx (SPEC §5.3)", () => {
  test("spellings nginx resolves to the protected /auth/x need the credentials over HTTP/1.1", async () => {
    for (const path of ["//auth/x", "/%61uth/x", "/auth//x", "/static/%2e%2e/auth/x", "/./auth/x", "/static/../auth/x"]) {
      expect([path, statusOf(await http1(path))]).toEqual([path, 401]);
    }
  });

  test("encoded slashes and `..;` segments are refused with 400 and never reach nginx", async () => {
    for (const path of ["/auth%2fx", "/static/..%2fauth/x", "/static/..%2Fauth/x", "/auth%5Cx", "/static/..;/auth/x", "/bad%zz"]) {
      const answer = await http1(path, "app.test", `Authorization: ${CREDS}\r\n`);
      expect([path, statusOf(answer), answer.includes("uri=")]).toEqual([path, 400, false]);
    }
    expect(proxy.logs().some((l) => l.msg === "request refused" && String(l.reason).includes("SPEC §5.3"))).toBe(true);
  });

  test("the normalised path is what nginx is sent", async () => {
    const answer = await http1("//%61uth/./y//z", "app.test", `Authorization: ${CREDS}\r\n`);
    expect(statusOf(answer)).toBe(200);
    // A prefix mount passes on the rest after `/auth/` (SPEC §5.4).
    expect(answer).toContain("uri=/y/z request_uri=/y/z");
    expect(await http1("//open/%2e%2e/pub//x")).toContain("uri=/pub/x request_uri=/pub/x");
    expect(await http1("/open/%7euser/a%3bb")).toContain("request_uri=/open/~user/a%3Bb");
  });

  test("an exact rule also covers its path with one trailing slash and with doubled slashes", async () => {
    for (const path of ["/exact", "/exact/", "//exact", "//exact//"]) expect([path, statusOf(await http1(path))]).toEqual([path, 401]);
    expect(await http1("/exact/", "app.test", `Authorization: ${CREDS}\r\n`)).toContain("request_uri=/exact");
  });

  test("h2c and h2 requests are normalised the same way", async () => {
    const h2c = `${proxy.url}`;
    const h2 = `https://127.0.0.1:${proxy.handle.https!.port}`;
    for (const [flag, base] of [
      ["--http2-prior-knowledge", h2c],
      ["--http2", h2],
    ] as const) {
      expect(await curl(flag, `${base}//auth/x`)).toStartWith("2 401");
      expect(await curl(flag, `${base}/%61uth/x`)).toStartWith("2 401");
      expect(await curl(flag, `${base}/auth%2fx`)).toStartWith("2 400");
      expect(await curl(flag, `${base}/exact/`)).toStartWith("2 401");
    }
  });

  test("a WebSocket upgrade to an un-normalised protected path is refused before any backend", async () => {
    const upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    const raw = (path: string) => rawRequest(proxy.handle.http.port, `GET ${path} HTTP/1.1\r\nHost: app.test\r\n${upgrade}\r\n`, 3000);
    expect(statusOf(await raw("//auth/x"))).toBe(401);
    expect(statusOf(await raw("/%61uth/x"))).toBe(401);
    expect(statusOf(await raw("/auth%2fx"))).toBe(400);
  });
});

describe("host with one trailing dot (SPEC §5.3)", () => {
  test("`secret.example.com.` meets the host rule and its auth over HTTP/1.1, h2c :authority and TLS with that SNI", async () => {
    expect(statusOf(await http1("/", "secret.example.com."))).toBe(401);
    expect(statusOf(await http1("/", "SECRET.example.com.:8080"))).toBe(401);
    expect(await curl("--http2-prior-knowledge", "-H", "host: secret.example.com.", `${proxy.url}/`)).toStartWith("2 401");
    const port = proxy.handle.https!.port;
    expect(await curl("--http2", "--resolve", `secret.example.com.:${port}:127.0.0.1`, `https://secret.example.com.:${port}/`)).toStartWith("2 401");
    expect(await curl("--http1.1", "--resolve", `secret.example.com.:${port}:127.0.0.1`, `https://secret.example.com.:${port}/`)).toStartWith("1.1 401");
    expect(statusOf(await http1("/", "other.example.com."))).toBe(200);
    expect(statusOf(await http1("/", "."))).toBe(400);
  });
});
