import { describe, expect, test } from "bun:test";
import { formatProgress } from "../../src/update/download.ts";
import { parseVersionLine, versionLine } from "../../src/lib/version.ts";
import { channelUrl, detectPlatform, isSameVersion, NO_CHANNEL, parseChecksum, parseRelease, pickAsset, type Release } from "../../src/update/release.ts";

const asset = (name: string) => ({ name, url: `https://example.test/${name}`, size: null });
const release = (...names: string[]): Release => ({ tag: "v1.2.3", assets: names.map(asset) });

/** What `fn` returns, or the message it throws. */
function outcome<T>(fn: () => T): T | string {
  try {
    return fn();
  } catch (err) {
    return (err as Error).message;
  }
}

describe("release selection (SPEC §16.4)", () => {
  test("names the platform os-arch for linux and darwin on x64 and arm64 only", () => {
    expect([
      outcome(() => detectPlatform("linux", "x64")),
      outcome(() => detectPlatform("darwin", "arm64")),
      outcome(() => detectPlatform("win32", "x64")),
      outcome(() => detectPlatform("linux", "ia32")),
    ]).toEqual([
      "linux-x64",
      "darwin-arm64",
      "unsupported platform win32-x64: releases exist for linux and darwin on x64 and arm64",
      "unsupported platform linux-ia32: releases exist for linux and darwin on x64 and arm64",
    ]);
  });

  test("prefers the tarball over the bare executable and pairs each with its own .sha256", () => {
    expect([
      pickAsset(release("soli-proxy-linux-x64", "soli-proxy-linux-x64.tar.gz", "soli-proxy-linux-x64.tar.gz.sha256"), "linux-x64"),
      pickAsset(release("soli-proxy-linux-x64", "soli-proxy-linux-x64.sha256", "soli-proxy-linux-arm64.tar.gz"), "linux-x64"),
      pickAsset(release("soli-proxy-linux-x64.tar.gz", "soli-proxy-linux-x64.sha256"), "linux-x64"),
      pickAsset(release("soli-proxy-darwin-x64.tar.gz"), "linux-x64"),
    ]).toEqual([
      { asset: asset("soli-proxy-linux-x64.tar.gz"), checksum: asset("soli-proxy-linux-x64.tar.gz.sha256") },
      { asset: asset("soli-proxy-linux-x64"), checksum: asset("soli-proxy-linux-x64.sha256") },
      { asset: asset("soli-proxy-linux-x64.tar.gz"), checksum: null },
      null,
    ]);
  });

  test("reads the first token of a .sha256 as 64 hex characters, in either case", () => {
    const hex = "0123456789abcdef".repeat(4);
    expect([
      parseChecksum(`${hex}  soli-proxy-linux-x64\n`),
      parseChecksum(hex.toUpperCase()),
      parseChecksum(`\n ${hex}`),
      parseChecksum(hex.slice(1)),
      parseChecksum(`${hex}0`),
      parseChecksum(""),
    ]).toEqual([hex, hex, hex, null, null, null]);
  });

  test("compares the tag without its leading v", () => {
    expect([isSameVersion("v0.1.0", "0.1.0"), isSameVersion("0.1.0", "0.1.0"), isSameVersion("v0.1.1", "0.1.0"), isSameVersion("vv0.1.0", "0.1.0")]).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });

  test("reads tag_name and the assets' name and browser_download_url, skipping malformed assets", () => {
    const parsed = parseRelease(
      {
        tag_name: "v2.0.0",
        assets: [{ name: "a", browser_download_url: "https://x/a", size: 3 }, { name: "b" }, null, { name: "c", browser_download_url: "https://x/c" }],
      },
      "u",
    );
    expect([parsed, outcome(() => parseRelease({ assets: [] }, "https://api/latest"))]).toEqual([
      {
        tag: "v2.0.0",
        assets: [
          { name: "a", url: "https://x/a", size: 3 },
          { name: "c", url: "https://x/c", size: null },
        ],
      },
      "no tag_name in the release from https://api/latest",
    ]);
  });

  test("draws the progress bar with bytes, total and rate, or bytes and rate without a total", () => {
    expect([formatProgress(5_000_000, 20_000_000, 1000, 8), formatProgress(20_000_000, 20_000_000, 4000, 8), formatProgress(1_500_000, null, 500)]).toEqual([
      "[##------] 5.0 MB / 20.0 MB  5.0 MB/s",
      "[########] 20.0 MB / 20.0 MB  5.0 MB/s",
      "1.5 MB  3.0 MB/s",
    ]);
  });

  test("the channel is SOLI_PROXY_UPDATE_URL, else [update] url, else the build's, else an error saying how to set one", () => {
    expect([
      outcome(() => channelUrl("https://env/", "https://toml/", "https://build/")),
      outcome(() => channelUrl("", "https://toml/", "https://build/")),
      outcome(() => channelUrl(undefined, null, "https://build/")),
      outcome(() => channelUrl(undefined, null, null)),
      outcome(() => channelUrl("file:///etc/passwd", null, null)),
      outcome(() => channelUrl("not a url", null, null)),
    ]).toEqual([
      "https://env/",
      "https://toml/",
      "https://build/",
      NO_CHANNEL,
      "the release channel 'file:///etc/passwd' is not an http(s) URL",
      "the release channel 'not a url' is not a URL",
    ]);
  });

  test("download URLs relative to the latest answer resolve against it; a tag that is not a version or a missing assets list is refused", () => {
    const url = "http://127.0.0.1:8080/channel/latest";
    expect([
      parseRelease(
        {
          tag_name: "v1.2.3",
          assets: [
            { name: "a", browser_download_url: "a" },
            { name: "b", browser_download_url: "../b" },
          ],
        },
        url,
      ).assets.map((a) => a.url),
      outcome(() => parseRelease({ tag_name: "latest; rm -rf /", assets: [] }, url)),
      outcome(() => parseRelease({ tag_name: "v1.2.3" }, url)),
      outcome(() => parseRelease("<html>", url)),
    ]).toEqual([
      ["http://127.0.0.1:8080/channel/a", "http://127.0.0.1:8080/b"],
      `the release from ${url} has a tag_name that is not a version: 'latest; rm -rf /'`,
      `no assets list in the release from ${url}`,
      `no tag_name in the release from ${url}`,
    ]);
  });

  test("-V names the runtime, which tells this program from the original Rust soli-proxy", () => {
    expect([
      versionLine("1.2.3"),
      parseVersionLine(versionLine("1.2.3")),
      parseVersionLine("soli-proxy 9.9.9"),
      parseVersionLine("soli-proxy 1.0.0-rc.1 (bun 1.4.5)"),
      parseVersionLine("other 1.0.0 (bun 1.4.5)"),
    ]).toEqual([`soli-proxy 1.2.3 (bun ${Bun.version})`, "1.2.3", null, "1.0.0-rc.1", null]);
  });
});
