// The demo app behind soli-proxy: answers on $PORT, with a health check for blue/green deploys.
const port = Number(process.env.PORT ?? 3000);
const started = new Date().toISOString();

const server = Bun.serve({
  port,
  hostname: "127.0.0.1",
  fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/health") return new Response("ok");
    const via = req.headers.get("x-forwarded-host") ?? req.headers.get("host");
    return new Response(
      `<!doctype html><title>soli-proxy demo</title><h1>Hello from demo.localhost</h1>` +
        `<p>Served through soli-proxy for <code>${escapeHtml(via ?? "")}</code> from port ${port}, up since ${started}.</p>`,
      { headers: { "content-type": "text/html; charset=utf-8" } },
    );
  },
});

console.log(`demo app listening on http://127.0.0.1:${server.port}`);

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
