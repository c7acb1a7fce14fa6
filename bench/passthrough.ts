// The bare baseline of bench/e2e.ts and bench/compare.ts: a 20-line Bun.serve + fetch() pass-through
// with nothing else (no routing, no forwarding headers, no limits). Like soli-proxy's listeners it
// runs with `development: false` (issue 19 defines the reference that way; Bun.serve is in
// development mode unless told, and the two measured the same within this machine's noise).
// Usage: bun bench/passthrough.ts <port> <upstream> [tls-port]; with a tls-port (and TLS_CERT,
// TLS_KEY) it also listens there with TLS and HTTP/2.
const port = Number(process.argv[2] ?? 18080);
const upstream = process.argv[3] ?? "http://127.0.0.1:18081";
const tlsPort = process.argv[4] ? Number(process.argv[4]) : null;
const tls = process.env.TLS_CERT ? { cert: Bun.file(process.env.TLS_CERT), key: Bun.file(process.env.TLS_KEY!) } : undefined;
async function pass(req: Request): Promise<Response> {
  const url = new URL(req.url);
  return fetch(upstream + url.pathname + url.search, {
    method: req.method,
    headers: req.headers,
    body: req.body,
    redirect: "manual",
    decompress: false,
  } as RequestInit);
}
Bun.serve({ port, hostname: "127.0.0.1", development: false, http2: process.env.H2 === "1", tls: tlsPort === null ? tls : undefined, fetch: pass });
if (tlsPort !== null) Bun.serve({ port: tlsPort, hostname: "127.0.0.1", development: false, http2: true, tls, fetch: pass });
console.log(`passthrough on ${port}${tlsPort === null ? "" : ` and ${tlsPort} (TLS, h2)`} -> ${upstream}`);
