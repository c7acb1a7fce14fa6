/**
 * The release side of self-update (SPEC §16.4 steps 1–5): which platform this is, the latest
 * release from a GitHub-releases-compatible API, the asset and checksum for this platform.
 */

declare const SOLI_PROXY_BUILD_UPDATE_URL: string | undefined;

/** The project's GitHub releases API; a build may fix another (scripts/build.ts --update-url). */
export const DEFAULT_UPDATE_URL: string =
  typeof SOLI_PROXY_BUILD_UPDATE_URL === "string" ? SOLI_PROXY_BUILD_UPDATE_URL : "https://api.github.com/repos/solisoft/soli-proxy/releases";

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

export function parseRelease(body: unknown, url: string): Release {
  const obj = body as { tag_name?: unknown; assets?: unknown } | null;
  if (!obj || typeof obj.tag_name !== "string" || obj.tag_name === "") throw new UpdateError(`no tag_name in the release from ${url}`);
  const assets: ReleaseAsset[] = [];
  for (const a of Array.isArray(obj.assets) ? obj.assets : []) {
    const asset = a as { name?: unknown; browser_download_url?: unknown; size?: unknown };
    if (typeof asset?.name !== "string" || typeof asset.browser_download_url !== "string") continue;
    assets.push({ name: asset.name, url: asset.browser_download_url, size: typeof asset.size === "number" ? asset.size : null });
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
