import { describe, expect, test } from "bun:test";
import { backend } from "../support/backend.ts";
import { startTestProxy } from "../support/project.ts";

/** Runs curl and returns `<http_version> <status> <body>`. */
async function curl(...args: string[]): Promise<string> {
  const p = Bun.spawn(["curl", "-s", "-k", "--max-time", "10", "-w", " %{http_version} %{http_code}", ...args], { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(p.stdout).text();
  await p.exited;
  const m = /^(.*) (\S+) (\d{3})$/s.exec(out);
  return m ? `${m[2]} ${m[3]} ${m[1]}` : out;
}

describe("listeners and protocols", () => {
  test("HTTPS negotiates HTTP/2 by ALPN and falls back to HTTP/1.1", async () => {
    using b = backend((req) => new Response(`hi ${new URL(req.url).pathname}`));
    await using proxy = await startTestProxy(`default -> ${b.url}`);
    expect(await curl("--http2", `${proxy.httpsUrl}/h2`)).toBe("2 200 hi /h2");
    expect(await curl("--http1.1", `${proxy.httpsUrl}/h1`)).toBe("1.1 200 hi /h1");
  });

  test("the plain listener speaks h2c with prior knowledge and HTTP/1.1", async () => {
    using b = backend((req) => new Response(`hi ${new URL(req.url).pathname}`));
    await using proxy = await startTestProxy(`default -> ${b.url}`);
    expect(await curl("--http2-prior-knowledge", `${proxy.url}/h2c`)).toBe("2 200 hi /h2c");
    expect(await curl(`${proxy.url}/plain`)).toBe("1.1 200 hi /plain");
  });

  test("HTTP/2 requests reach an HTTP/1.1 backend with their :authority as Host and forwarding headers", async () => {
    using b = backend();
    await using proxy = await startTestProxy(`default -> ${b.url}`);
    const out = await curl(
      "--http2",
      "-H",
      "x-test: 1",
      "--resolve",
      `shop.test:${proxy.handle.https!.port}:127.0.0.1`,
      `https://shop.test:${proxy.handle.https!.port}/x`,
    );
    const json = JSON.parse(out.slice("2 200 ".length));
    expect([json.headers.host, json.headers["x-forwarded-proto"], json.headers["x-forwarded-host"], json.headers["x-test"]]).toEqual([
      `shop.test:${proxy.handle.https!.port}`,
      "https",
      `shop.test:${proxy.handle.https!.port}`,
      "1",
    ]);
  });

  test("a POST body over HTTP/2 without Content-Length reaches the backend", async () => {
    using b = backend(async (_req, seen) => new Response(`got ${seen.body.length}`));
    await using proxy = await startTestProxy(`default -> ${b.url}`);
    expect(await curl("--http2-prior-knowledge", "--data-binary", "x".repeat(50_000), `${proxy.url}/post`)).toBe("2 200 got 50000");
  });

  test("HTTPS responses carry HSTS when configured", async () => {
    using b = backend(() => new Response("secure"));
    await using proxy = await startTestProxy(`default -> ${b.url}`, { toml: "[tls]\nhsts_max_age_seconds = 31536000\nhsts_include_subdomains = true\n" });
    const p = Bun.spawn(["curl", "-skI", `${proxy.httpsUrl}/`], { stdout: "pipe" });
    const head = (await new Response(p.stdout).text()).toLowerCase();
    const plain = await fetch(proxy.url + "/");
    expect([head.includes("strict-transport-security: max-age=31536000; includesubdomains"), plain.headers.get("strict-transport-security")]).toEqual([
      true,
      null,
    ]);
  });

  test("the self-signed fallback certificate covers localhost, 127.0.0.1 and ::1", async () => {
    using b = backend(() => new Response("ok"));
    await using proxy = await startTestProxy(`default -> ${b.url}`);
    const cert = await Bun.file(`${proxy.project.dir}/certs/self-signed.cert.pem`).text();
    const key = Bun.file(`${proxy.project.dir}/certs/self-signed.key.pem`);
    const { certificateNames } = await import("../../src/tls/self-signed.ts");
    expect([certificateNames(cert), (await key.stat()).mode & 0o777]).toEqual([["DNS:localhost", "IP:127.0.0.1", "IP:::1"], 0o600]);
    const res = await fetch(`https://localhost:${proxy.handle.https!.port}/`, { tls: { ca: cert } } as RequestInit);
    expect(await res.text()).toBe("ok");
  });
});
