/**
 * Upstream keep-alive under load: how many requests reuse a pooled connection (SPEC §5.6 step 7).
 *
 *   bun bench/keepalive.ts [seconds=5] [connections=50]
 *
 * Runs the proxy in this process (so its pool's stats() can be read) in front of a Bun backend in
 * its own process, drives it with wrk (HTTP/1.1 keep-alive), then prints the pool's counters:
 * connections opened, requests that reused one, and the reuse ratio.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startProxy } from "../src/runtime/runtime.ts";
import { createLogger } from "../src/lib/log.ts";
import { BUN, freePort, have, start, table, waitPort, wrk } from "./lib.ts";

const seconds = Number(process.argv[2] ?? 5);
const connections = Number(process.argv[3] ?? 50);
if (!have("wrk")) throw new Error("wrk is not installed (apt-get install wrk)");

const dir = mkdtempSync(join(tmpdir(), "soli-bench-ka-"));
const backendPort = await freePort();
const backend = start([BUN, "-e", `Bun.serve({port:${backendPort},hostname:"127.0.0.1",fetch:()=>new Response("hello world\\n")})`]);
await waitPort(backendPort);

writeFileSync(join(dir, "proxy.conf"), `default -> http://127.0.0.1:${backendPort}\n`);
writeFileSync(join(dir, "config.toml"), `[server]\nbind = "127.0.0.1:0"\nhttps_port = 0\nworker_threads = 1\n[admin]\nenabled = false\n`);
const proxy = await startProxy({ confPath: join(dir, "proxy.conf"), watch: false, logger: createLogger({ level: "warn", format: "json", output: "stderr" }) });
try {
  const url = `http://127.0.0.1:${proxy.http.port}/`;
  const result = await wrk(url, seconds, connections);
  const stats = proxy.state.pool.stats();
  const total = stats.opened + stats.reused;
  console.log(
    `\nbench/keepalive.ts — ${new Date().toISOString()} — wrk -t1 -c${connections} -d${seconds}s through soli-proxy to a Bun backend, bun ${Bun.version}\n`,
  );
  console.log(
    table([
      {
        "req/s": Math.round(result.rps),
        requests: result.requests,
        errors: result.errors,
        "upstream conns opened": stats.opened,
        "requests on a reused conn": stats.reused,
        "idle at end": stats.idle,
        "reuse ratio": `${((100 * stats.reused) / Math.max(1, total)).toFixed(2)}%`,
      },
    ]),
  );
} finally {
  await proxy.shutdown();
  backend.kill();
}
