import { describe, expect, test } from "bun:test";
import { backend } from "../support/backend.ts";
import { makeCa, makeLeaf } from "../support/certs.ts";
import { tempProject, testToml } from "../support/project.ts";
import { spawnProxy } from "../support/spawn.ts";

describe("https:// targets (SPEC §3.4)", () => {
  test("TLS to the target is verified, Host becomes the target authority and a same-host Origin follows it", async () => {
    const ca = await makeCa();
    const leaf = await makeLeaf(ca, ["localhost"]);
    using b = backend(undefined, leaf);
    using project = tempProject({ "proxy.conf": `default -> https://localhost:${b.port}/base`, "config.toml": testToml(), "ca.pem": ca.cert });
    await using proxy = await spawnProxy(project.conf, { env: { NODE_EXTRA_CA_CERTS: `${project.dir}/ca.pem` } });
    const send = (origin: string) => fetch(`http://127.0.0.1:${proxy.http}/p`, { headers: { host: "shop.test:8080", origin } }).then((r) => r.json());
    const same = (await send("https://SHOP.test")) as { url: string; headers: Record<string, string> };
    const other = (await send("https://evil.test")) as { headers: Record<string, string> };
    expect([same.url, same.headers.host, same.headers["x-forwarded-host"], same.headers.origin, other.headers.origin]).toEqual([
      "/base/p",
      `localhost:${b.port}`,
      "shop.test:8080",
      `https://localhost:${b.port}`,
      "https://evil.test",
    ]);
  });

  test("a target whose certificate is not trusted gets 502, not a silent insecure connection", async () => {
    const untrusted = await makeCa("someone else");
    const leaf = await makeLeaf(untrusted, ["localhost"]);
    using b = backend(undefined, leaf);
    using project = tempProject({ "proxy.conf": `default -> https://localhost:${b.port}`, "config.toml": testToml() });
    await using proxy = await spawnProxy(project.conf);
    const res = await fetch(`http://127.0.0.1:${proxy.http}/`);
    expect([res.status, b.seen.length]).toEqual([502, 0]);
  });

  test("a certificate for another name is refused", async () => {
    const ca = await makeCa();
    const leaf = await makeLeaf(ca, ["not-localhost.test"]);
    using b = backend(undefined, leaf);
    using project = tempProject({ "proxy.conf": `default -> https://localhost:${b.port}`, "config.toml": testToml(), "ca.pem": ca.cert });
    await using proxy = await spawnProxy(project.conf, { env: { NODE_EXTRA_CA_CERTS: `${project.dir}/ca.pem` } });
    const res = await fetch(`http://127.0.0.1:${proxy.http}/`);
    expect([res.status, b.seen.length]).toEqual([502, 0]);
  });
});
