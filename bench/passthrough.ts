// The bare baseline of bench/e2e.ts: a 20-line Bun.serve + fetch() pass-through with nothing else
// (no routing, no forwarding headers, no limits). Usage: bun bench/passthrough.ts <port> <upstream>
const port = Number(process.argv[2] ?? 18080);
const upstream = process.argv[3] ?? "http://127.0.0.1:18081";
Bun.serve({
  port,
  hostname: "127.0.0.1",
  http2: process.env.H2 === "1",
  tls: process.env.TLS_CERT ? { cert: Bun.file(process.env.TLS_CERT), key: Bun.file(process.env.TLS_KEY!) } : undefined,
  async fetch(req) {
    const url = new URL(req.url);
    return fetch(upstream + url.pathname + url.search, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      redirect: "manual",
      decompress: false,
    } as RequestInit);
  },
});
console.log(`passthrough on ${port} -> ${upstream}`);
