/**
 * Downloads a release asset into memory, drawing a progress bar (bytes, total, rate) on stderr
 * when it is a terminal (SPEC §16.4).
 */
import { UpdateError } from "./release.ts";

export interface DownloadOptions {
  userAgent: string;
  /** Expected size from the release listing, used when the server sends no Content-Length. */
  size?: number | null;
  /** Draw a progress bar on this stream (a terminal); nothing is drawn when absent. */
  progress?: { write(text: string): unknown } | null;
}

const REDRAW_MS = 100;

export async function download(name: string, url: string, opts: DownloadOptions): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url, { headers: { Accept: "application/octet-stream", "User-Agent": opts.userAgent }, redirect: "follow" });
  } catch (err) {
    throw new UpdateError(`cannot download ${name} from ${url}: ${(err as Error).message}`);
  }
  if (!res.ok || !res.body) throw new UpdateError(`cannot download ${name}: ${url} answered ${res.status} ${res.statusText}`);
  // Content-Length counts encoded bytes; fetch hands us decoded ones.
  const header = res.headers.has("content-encoding") ? NaN : Number(res.headers.get("content-length") ?? NaN);
  const total = Number.isFinite(header) && header > 0 ? header : (opts.size ?? null);

  const chunks: Uint8Array[] = [];
  let received = 0;
  const started = performance.now();
  let drawn = 0;
  const draw = () => opts.progress?.write(`\r${formatProgress(received, total, performance.now() - started)}\x1b[K`);
  try {
    for await (const chunk of res.body) {
      chunks.push(chunk);
      received += chunk.length;
      if (opts.progress && performance.now() - drawn >= REDRAW_MS) {
        drawn = performance.now();
        draw();
      }
    }
  } catch (err) {
    if (opts.progress) opts.progress.write("\n");
    throw new UpdateError(`download of ${name} failed after ${received} bytes: ${(err as Error).message}`);
  }
  if (opts.progress) {
    draw();
    opts.progress.write("\n");
  }
  // The listing's size counts too: a server may cut a file short and announce what it sent.
  const expected = opts.size ?? total;
  if (expected !== null && received !== expected) throw new UpdateError(`download of ${name} is incomplete: got ${received} of ${expected} bytes`);
  return Buffer.concat(chunks);
}

/** `[#########-----------]  12.3 MB / 40.1 MB  5.2 MB/s`; without a total, just bytes and rate. */
export function formatProgress(received: number, total: number | null, elapsedMs: number, width = 24): string {
  const rate = elapsedMs > 0 ? received / (elapsedMs / 1000) : 0;
  if (total === null || total <= 0) return `${megabytes(received)}  ${megabytes(rate)}/s`;
  const filled = Math.min(width, Math.floor((received / total) * width));
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${megabytes(received)} / ${megabytes(total)}  ${megabytes(rate)}/s`;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}
