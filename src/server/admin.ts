/**
 * Bun.serve for the admin API (SPEC §11.1, §15.2): HTTP/1.1 on admin.bind and on the unix socket
 * run/control.sock (mode 0600). Both serve the same Hono app; `env.local` tells them apart.
 */
import type { Server } from "bun";
import { chmodSync } from "node:fs";
import type { AdminEnv } from "../admin/port.ts";
import { normalizeIp } from "../lib/net.ts";

export interface AdminFetch {
  fetch(req: Request, env: AdminEnv): Response | Promise<Response>;
}

export function serveAdminTcp(app: AdminFetch, hostname: string, port: number): Server<unknown> {
  return Bun.serve({
    hostname,
    port,
    idleTimeout: 60,
    fetch: (req, server) => app.fetch(req, { local: false, peer: normalizeIp(server.requestIP(req)?.address ?? ""), server }),
  });
}

export function serveAdminSocket(app: AdminFetch, path: string): Server<unknown> {
  const server = Bun.serve({
    unix: path,
    fetch: (req, server) => app.fetch(req, { local: true, peer: null, server }),
  });
  chmodSync(path, 0o600);
  return server;
}
