/**
 * HTTP/2 amplification against a proxy process (issue 20, item 7), with figures:
 *
 *   bun bench/h2-streams.ts [sessions=15] [streams=256] [per_client=100000]
 *
 * `sessions` h2c connections each open `streams` GETs of a 4 MiB body and never read them. The
 * proxy's RSS (from /proc/<pid>/status) before and after, the upstream connections the backend
 * saw, and the bytes the backend managed to send. `per_client` is written as
 * limits.max_in_flight_per_client (the default 256 refuses most streams with 429; the large value
 * measures the per-stream cost). For a before/after figure run the same file in the older checkout.
 * Then every session is destroyed and the time until the backend saw all its requests cancelled
 * is printed. Loopback only; bounded by the counts given.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testToml } from "../test/support/project.ts";
import { spawnProxy } from "../test/support/spawn.ts";
import { table } from "./lib.ts";

const SESSIONS = Number(process.argv[2] ?? 15);
const STREAMS = Number(process.argv[3] ?? 256);
const PER_CLIENT = Number(process.argv[4] ?? 100_000);
const BODY = 4 * 1024 * 1024;
const piece = new Uint8Array(64 * 1024).fill(1);

let produced = 0;
let open = 0;
let connections = 0;
const backend = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  idleTimeout: 120,
  fetch() {
    open++;
    let sent = 0;
    return new Response(
      new ReadableStream({
        pull(c) {
          if (sent >= BODY) {
            open--;
            return c.close();
          }
          c.enqueue(piece);
          sent += piece.length;
          produced += piece.length;
        },
        cancel() {
          open--;
        },
      }),
    );
  },
});

const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;

const dir = mkdtempSync(join(tmpdir(), "soli-h2-"));
writeFileSync(join(dir, "proxy.conf"), `default -> http://127.0.0.1:${backend.port}\n`);
writeFileSync(join(dir, "config.toml"), testToml(`[limits]\nmax_in_flight_per_client = ${PER_CLIENT}\nrequest_timeout = 60\n`));
const proxy = await spawnProxy(join(dir, "proxy.conf"), { args: ["--watch", "false"] });
const pid = proxy.proc.pid;
await fetch(`http://127.0.0.1:${proxy.http}/warm`).then((r) => r.arrayBuffer());
await Bun.sleep(500);
const before = rss(pid);

const sessions: http2.ClientHttp2Session[] = [];
const statuses: Record<number, number> = {};
let headers = 0;
for (let s = 0; s < SESSIONS; s++) {
  const session = http2.connect(`http://127.0.0.1:${proxy.http}`, { settings: { initialWindowSize: 65535 } });
  session.on("error", () => {});
  sessions.push(session);
  for (let i = 0; i < STREAMS; i++) {
    const stream = session.request({ ":path": `/s${s}-${i}` });
    stream.on("error", () => {});
    stream.on("response", (h) => {
      headers++;
      const status = Number(h[":status"]);
      statuses[status] = (statuses[status] ?? 0) + 1;
      stream.pause();
    });
  }
}
const deadline = Date.now() + 30_000;
while (headers < SESSIONS * STREAMS && Date.now() < deadline) await Bun.sleep(100);
// Let the streams fill whatever buffers they can.
let last = -1;
while (produced !== last && Date.now() < deadline + 30_000) {
  last = produced;
  await Bun.sleep(1000);
}
const during = rss(pid);
const upstreamOpen = open;
const producedMiB = produced / 1048576;

const left = Date.now();
for (const s of sessions) s.destroy();
while (open > 0 && Date.now() - left < 10_000) await Bun.sleep(20);
const cancelMs = Date.now() - left;

console.log(
  table([
    {
      streams: `${SESSIONS} × ${STREAMS}`,
      "per-client cap": PER_CLIENT,
      "answers by status": JSON.stringify(statuses),
      "RSS before MiB": before.toFixed(0),
      "RSS with unread streams MiB": during.toFixed(0),
      "KiB per stream": (((during - before) * 1024) / (SESSIONS * STREAMS)).toFixed(1),
      "upstream responses open": upstreamOpen,
      "backend sent MiB": producedMiB.toFixed(0),
      "all cancelled after client left": open === 0 ? `${cancelMs} ms` : `no (${open} open after ${cancelMs} ms)`,
    },
  ]),
);
await proxy.stop("SIGTERM");
backend.stop(true);
rmSync(dir, { recursive: true, force: true });
