/**
 * The release side of self-update (SPEC §16.4 steps 1–5): which platform this is, the latest
 * release from a GitHub-releases-compatible channel, the asset and checksum for this platform.
 */

declare const SOLI_PROXY_BUILD_UPDATE_URL: string | undefined;

/**
 * The channel fixed at build time (scripts/build.ts --update-url), or null. There is no built-in
 * default: the original Rust soli-proxy's releases are a different program (SPEC §16.4).
 */
export const BUILD_UPDATE_URL: string | null =
  typeof SOLI_PROXY_BUILD_UPDATE_URL === "string" && SOLI_PROXY_BUILD_UPDATE_URL !== "" ? SOLI_PROXY_BUILD_UPDATE_URL : null;

export const NO_CHANNEL = "no release channel configured: set [update] url in config.toml or SOLI_PROXY_UPDATE_URL";

/** `$SOLI_PROXY_UPDATE_URL`, else `[update] url`, else the build's; throws when none (SPEC §16.4 step 2). */
export function channelUrl(env: string | undefined, configured: string | undefined | null, built: string | null = BUILD_UPDATE_URL): string {
  const url = env || configured || built;
  if (!url) throw new UpdateError(NO_CHANNEL);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UpdateError(`the release channel '${url}' is not a URL`);
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") throw new UpdateError(`the release channel '${url}' is not an http(s) URL`);
  return url;
}

export interface ReleaseAsset {
  name: string;
  url: string;
  /** Bytes, when the API says. */
  size: number | null;
}

export interface Release {
  tag: string;
  assets: ReleaseAsset[];
}

/** Thrown for everything that stops an update; main prints it as `Error: <message>`, exit 1. */
export class UpdateError extends Error {
  override name = "UpdateError";
}

/** `<os>-<arch>` as release assets name it: os linux|darwin, arch x64|arm64. */
export function detectPlatform(os: string = process.platform, arch: string = process.arch): string {
  if ((os === "linux" || os === "darwin") && (arch === "x64" || arch === "arm64")) return `${os}-${arch}`;
  throw new UpdateError(`unsupported platform ${os}-${arch}: releases exist for linux and darwin on x64 and arm64`);
}

/** GET `<base>/latest` and read tag_name and assets[].name / browser_download_url. */
export async function fetchLatestRelease(base: string, userAgent: string): Promise<Release> {
  const url = `${base.replace(/\/+$/, "")}/latest`;
  let res: Response;
  try {
    res = await fetch(url, { headers: { Accept: "application/vnd.github+json", "User-Agent": userAgent }, signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    throw new UpdateError(`cannot reach the release server ${url}: ${(err as Error).message}`);
  }
  if (!res.ok) throw new UpdateError(`the release server answered ${res.status} ${res.statusText} for ${url}`);
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    throw new UpdateError(`the release server sent something that is not JSON for ${url}`);
  }
  return parseRelease(body, url);
}

/**
 * tag_name and assets[].name / browser_download_url, the GitHub releases API shape. A relative
 * download URL resolves against the `latest` URL, so a static directory written by
 * scripts/release.ts works wherever it is served. The tag must be a version (`v1.2.3`).
 */
export function parseRelease(body: unknown, url: string): Release {
  const obj = body as { tag_name?: unknown; assets?: unknown } | null;
  if (!obj || typeof obj !== "object" || typeof obj.tag_name !== "string" || obj.tag_name === "")
    throw new UpdateError(`no tag_name in the release from ${url}`);
  if (!/^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$/.test(obj.tag_name))
    throw new UpdateError(`the release from ${url} has a tag_name that is not a version: '${obj.tag_name.slice(0, 80)}'`);
  if (!Array.isArray(obj.assets)) throw new UpdateError(`no assets list in the release from ${url}`);
  const assets: ReleaseAsset[] = [];
  for (const a of obj.assets) {
    const asset = a as { name?: unknown; browser_download_url?: unknown; size?: unknown };
    if (typeof asset?.name !== "string" || typeof asset.browser_download_url !== "string") continue;
    let download: string;
    try {
      download = URL.canParse(asset.browser_download_url) ? new URL(asset.browser_download_url).href : new URL(asset.browser_download_url, url).href;
    } catch {
      continue;
    }
    assets.push({ name: asset.name, url: download, size: typeof asset.size === "number" ? asset.size : null });
  }
  return { tag: obj.tag_name, assets };
}

/** A tag names our version when it is equal once a leading `v` is dropped. */
export function isSameVersion(tag: string, version: string): boolean {
  return tag.replace(/^v/, "") === version;
}

/** The tarball if the release has one, else the bare executable, with its `.sha256` if present. */
export function pickAsset(release: Release, platform: string): { asset: ReleaseAsset; checksum: ReleaseAsset | null } | null {
  const byName = new Map(release.assets.map((a) => [a.name, a]));
  const asset = byName.get(`soli-proxy-${platform}.tar.gz`) ?? byName.get(`soli-proxy-${platform}`);
  if (!asset) return null;
  return { asset, checksum: byName.get(`${asset.name}.sha256`) ?? null };
}

/** The hex digest of a `.sha256` file: its first whitespace-separated token, 64 hex characters, lowercased. */
export function parseChecksum(text: string): string | null {
  const token = text.trim().split(/\s+/)[0] ?? "";
  return /^[0-9a-f]{64}$/i.test(token) ? token.toLowerCase() : null;
}
