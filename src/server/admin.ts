/**
 * Bun.serve for the admin API (SPEC §11.1, §15.2): HTTP/1.1 on admin.bind and on the unix socket
 * run/control.sock (mode 0600). Both serve the same Hono app; `env.local` tells them apart.
 */
import type { Server } from "bun";
import { chmodSync } from "node:fs";
import type { AdminEnv, AdminSocketData } from "../admin/port.ts";
import { normalizeIp } from "../lib/net.ts";

export interface AdminFetch {
  fetch(req: Request, env: AdminEnv): Response | Promise<Response>;
}

export function serveAdminTcp(app: AdminFetch, hostname: string, port: number): Server<unknown> {
  return Bun.serve<AdminSocketData>({
    hostname,
    port,
    idleTimeout: 60,
    fetch: (req, server) => app.fetch(req, { local: false, peer: normalizeIp(server.requestIP(req)?.address ?? ""), server: server as Server<unknown> }),
    // WebSockets of the `_admin` passthrough (SPEC §11.2): each carries its own relay.
    websocket: {
      open: (ws) => ws.data.open(ws),
      message: (ws, message) => ws.data.message(ws, message),
      close: (ws, code, reason) => ws.data.close(ws, code, reason),
    },
  }) as Server<unknown>;
}

export function serveAdminSocket(app: AdminFetch, path: string): Server<unknown> {
  // Bun's types leave idleTimeout out of the unix form; Bun 1.4 honours it there.
  const server = Bun.serve({
    unix: path,
    // No idle timer on the socket: Bun 1.4's server.timeout(req, 0) does not lift it on a unix
    // socket (measured: the JSON form of a 13 s deploy was reset at the idle limit), and a deploy
    // may wait minutes (SPEC §11.2). Only this user can connect (0600 in a 0700 run/), so a
    // client that holds a connection open hurts no one else.
    idleTimeout: 0,
    fetch: (req: Request, server: Server<unknown>) => app.fetch(req, { local: true, peer: null, server }),
  } as unknown as Parameters<typeof Bun.serve>[0]) as Server<unknown>;
  chmodSync(path, 0o600);
  return server;
}
