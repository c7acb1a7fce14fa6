/**
 * The dashboard's static files, embedded in the executable by `bun build --compile` through text
 * imports (nothing is fetched from the internet, SPEC §18). Each is served gzip-compressed when
 * the browser accepts it, compressed once on first use.
 */
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };
import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import clientJs from "./client.js" with { type: "text" };
import styleCss from "./style.css" with { type: "text" };

interface Asset {
  readonly type: string;
  readonly body: Uint8Array;
  gzipped?: Uint8Array;
  readonly etag: string;
}

function asset(type: string, text: string): Asset {
  const body = new TextEncoder().encode(text);
  return { type, body, etag: `"${Bun.hash(body).toString(36)}"` };
}

const ASSETS: Record<string, Asset> = {
  "client.js": asset("text/javascript; charset=utf-8", clientJs),
  "style.css": asset("text/css; charset=utf-8", styleCss),
  "uPlot.iife.min.js": asset("text/javascript; charset=utf-8", uplotJs),
  "uPlot.min.css": asset("text/css; charset=utf-8", uplotCss),
};

/** The response for /ui/assets/<name>, or null for an unknown name. */
export function assetResponse(name: string, req: Request): Response | null {
  const a = Object.hasOwn(ASSETS, name) ? ASSETS[name]! : null;
  if (a === null) return null;
  const headers: Record<string, string> = {
    "content-type": a.type,
    etag: a.etag,
    // Revalidated on each visit (an upgrade changes them), 304 when unchanged.
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    vary: "accept-encoding",
  };
  if (req.headers.get("if-none-match") === a.etag) return new Response(null, { status: 304, headers });
  if (/\bgzip\b/.test(req.headers.get("accept-encoding") ?? "")) {
    a.gzipped ??= Bun.gzipSync(a.body as Uint8Array<ArrayBuffer>, { level: 9 });
    return new Response(a.gzipped as Uint8Array<ArrayBuffer>, { headers: { ...headers, "content-encoding": "gzip" } });
  }
  return new Response(a.body as Uint8Array<ArrayBuffer>, { headers });
}
