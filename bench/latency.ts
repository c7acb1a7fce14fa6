/**
 * Added latency at half load: how much soli-proxy adds to p50/p99 when it is not saturated.
 *
 *   bun bench/latency.ts [seconds=10] [connections=32]
 *
 * Finds soli-proxy's saturation rate with wrk (-c50), then sends requests at half that rate,
 * open loop (each request has a scheduled start, and latency counts from it, so queueing is not
 * hidden), once straight to the backend and once through the proxy, and prints both
 * distributions and the difference. Needs wrk and nginx (Debian packages).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, freePort, ROOT, start, waitPort, wrk } from "./lib.ts";

const seconds = Number(process.argv[2] ?? 10);
const connections = Number(process.argv[3] ?? 32);
const dir = mkdtempSync(join(tmpdir(), "soli-latency-"));
const NGINX = Bun.which("nginx", { PATH: "/usr/sbin:/usr/bin" });
if (!NGINX || !Bun.which("wrk")) throw new Error("needs nginx and wrk (apt-get install nginx wrk)");

const backendPort = await freePort();
writeFileSync(
  join(dir, "nginx.conf"),
  `worker_processes 1;\nerror_log ${dir}/error.log;\npid ${dir}/nginx.pid;\nevents { worker_connections 4096; }\nhttp {\n  access_log off;\n  keepalive_requests 1000000;\n` +
    ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `  ${t}_temp_path ${dir}/${t};\n`).join("") +
    `  server { listen 127.0.0.1:${backendPort}; location / { return 200 "hello world\\n"; } }\n}\n`,
);
const backend = Bun.spawn([NGINX, "-c", join(dir, "nginx.conf"), "-g", "daemon off;"], { stdout: "ignore", stderr: "inherit" });
const soliPort = await freePort();
writeFileSync(join(dir, "proxy.conf"), `default -> http://127.0.0.1:${backendPort}\n`);
writeFileSync(
  join(dir, "config.toml"),
  `[server]\nbind = "127.0.0.1:${soliPort}"\nhttps_port = 0\nworker_threads = 1\n[admin]\nenabled = false\n[logging]\nlevel = "warn"\n`,
);
const soli = start([BUN, join(ROOT, "src/main.ts"), "-c", join(dir, "proxy.conf"), "--sites-dir", join(dir, "sites")]);
const passPort = await freePort();
const pass = start([BUN, join(ROOT, "bench/passthrough.ts"), String(passPort), `http://127.0.0.1:${backendPort}`]);
await Promise.all([waitPort(backendPort), waitPort(soliPort), waitPort(passPort)]);

/** Open-loop load at `rate` req/s over keep-alive connections; latencies in ms. */
async function openLoop(port: number, rate: number, secs: number): Promise<number[]> {
  const request = Buffer.from(`GET / HTTP/1.1\r\nHost: bench.test\r\n\r\n`);
  const latencies: number[] = [];
  const conns = await Promise.all(
    Array.from(
      { length: connections },
      () =>
        new Promise<net.Socket>((resolve) => {
          const s = net.connect(port, "127.0.0.1", () => resolve(s));
          s.setNoDelay(true);
        }),
    ),
  );
  // Each connection: a FIFO of scheduled start times; one request in flight at a time.
  const queues = conns.map(() => [] as number[]);
  const busy = conns.map(() => false);
  const send = (i: number) => {
    if (busy[i] || queues[i]!.length === 0) return;
    busy[i] = true;
    conns[i]!.write(request);
  };
  conns.forEach((s, i) => {
    let buffered = "";
    s.on("data", (d) => {
      buffered += d.toString("latin1");
      for (;;) {
        const end = buffered.indexOf("\r\n\r\n");
        if (end < 0) return;
        const length = Number(/content-length: *(\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        buffered = buffered.slice(end + 4 + length);
        latencies.push(performance.now() - queues[i]!.shift()!);
        busy[i] = false;
        send(i);
      }
    });
  });
  const startAt = performance.now();
  const total = Math.floor(rate * secs);
  let issued = 0;
  await new Promise<void>((done) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - startAt) / 1000) * rate));
      for (; issued < due; issued++) {
        const i = issued % connections;
        queues[i]!.push(startAt + (issued / rate) * 1000);
        send(i);
      }
      if (issued >= total) return done();
      setTimeout(tick, 1);
    };
    tick();
  });
  const deadline = performance.now() + 10_000;
  while (latencies.length < total && performance.now() < deadline) await Bun.sleep(10);
  for (const s of conns) s.destroy();
  return latencies.sort((a, b) => a - b);
}

const q = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? Number.NaN;
try {
  const saturation = await wrk(`http://127.0.0.1:${soliPort}/`, 5, 50);
  const rate = Math.round(saturation.rps / 2);
  await openLoop(soliPort, rate, 2); // warm-up
  const direct = await openLoop(backendPort, rate, seconds);
  const bare = await openLoop(passPort, rate, seconds);
  const proxied = await openLoop(soliPort, rate, seconds);
  const row = (name: string, xs: number[]) =>
    `${name.padEnd(16)} p50 ${q(xs, 0.5).toFixed(3)} ms   p99 ${q(xs, 0.99).toFixed(3)} ms   max ${q(xs, 1).toFixed(3)} ms   n=${xs.length}`;
  console.log(
    `\nbench/latency.ts — ${new Date().toISOString()} — soli-proxy saturates at ${Math.round(saturation.rps)} req/s (wrk -c50); open loop at ${rate} req/s for ${seconds}s over ${connections} connections, bun ${Bun.version}\n`,
  );
  console.log(row("backend direct", direct));
  console.log(row("bare Bun relay", bare));
  console.log(row("via soli-proxy", proxied));
  console.log(`\nadded by the proxy: p50 +${(q(proxied, 0.5) - q(direct, 0.5)).toFixed(3)} ms, p99 +${(q(proxied, 0.99) - q(direct, 0.99)).toFixed(3)} ms`);
} finally {
  soli.kill();
  pass.kill();
  backend.kill();
}
