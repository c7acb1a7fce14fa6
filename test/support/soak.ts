/**
 * The soak (issue 11, item 5): a proxy in its own process under a bounded, mixed, paced load for
 * a given time: keep-alive GETs, streamed uploads and downloads checked by SHA-256, clients that
 * abort a download or an upload mid-stream (intended failures), WebSocket sessions opened and
 * closed, and a configuration reload (SIGHUP) every `reloadEverySecs`. The proxy's RSS and open
 * descriptors are sampled from /proc; every failure that is not an intended abort is counted.
 * bench/soak.ts runs it for minutes; the test suite for seconds. Its sleeps are on purpose: the
 * load's pace, the run's length, the reload period and the idle wait whose descriptors it counts.
 */
import type { ServerWebSocket } from "bun";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { tempProject, testToml } from "./project.ts";
import { spawnProxy } from "./spawn.ts";
import { waitFor } from "./wait.ts";

export interface SoakOptions {
  seconds: number;
  /** RSS is compared from the end of the warm-up on. */
  warmupSecs: number;
  reloadEverySecs: number;
  /** Concurrent keep-alive GET clients (each paced at one request per ~5 ms). */
  getClients?: number;
  /** Seconds to wait after the load before counting descriptors again (default 11). */
  idleWaitSecs?: number;
  log?: (line: string) => void;
}

export interface Sample {
  atSecs: number;
  rssMiB: number;
  fds: number;
}

export interface SoakResult {
  samples: Sample[];
  start: Sample;
  warm: Sample;
  end: Sample;
  /** Descriptors once the load stopped and idle connections timed out. */
  fdsIdle: number;
  /** Completed operations by kind. */
  counts: Record<string, number>;
  /** Unexpected failures by kind, and the first few messages of each kind. */
  errors: Record<string, number>;
  firstErrors: string[];
  reloads: { applied: number; failed: number };
  /** Backend streams still open after the run (aborted downloads must be cancelled upstream). */
  openBackendStreams: number;
  proxyExited: boolean;
  proxyStderr: string;
}

const BLOCK = crypto.getRandomValues(new Uint8Array(64 * 1024));

/** `size` bytes of the repeated random block. */
function pattern(size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let left = size; left > 0; left -= BLOCK.length) out.push(left >= BLOCK.length ? BLOCK : BLOCK.subarray(0, left));
  return out;
}

function sha(parts: Uint8Array[]): string {
  const h = new Bun.CryptoHasher("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
}

const expectedSha = new Map<number, string>();
const shaOfSize = (size: number) => {
  let s = expectedSha.get(size);
  if (!s) expectedSha.set(size, (s = sha(pattern(size))));
  return s;
};
const SIZES = [1, 1000, 65_536, 300_000, 1_048_576, 2_500_000];

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const log = opts.log ?? (() => {});
  let openStreams = 0;
  const backend = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 30,
    async fetch(req, server) {
      const url = new URL(req.url);
      if (url.pathname === "/ws") return server.upgrade(req, { data: undefined }) ? undefined : new Response("ws only", { status: 400 });
      if (url.pathname === "/upload") {
        const h = new Bun.CryptoHasher("sha256");
        let n = 0;
        for await (const chunk of req.body ?? []) {
          h.update(chunk as Uint8Array);
          n += (chunk as Uint8Array).length;
        }
        return Response.json({ length: n, sha: h.digest("hex") });
      }
      if (url.pathname === "/download") {
        const parts = pattern(Number(url.searchParams.get("size")));
        return new Response(new ReadableStream({ pull: (c) => (parts.length ? c.enqueue(parts.shift()!) : c.close()) }, { highWaterMark: 0 }));
      }
      if (url.pathname === "/endless") {
        // Produces until the client goes away: an aborted client must cancel it through the proxy.
        openStreams++;
        let open = true;
        const close = () => {
          if (open) openStreams--;
          open = false;
        };
        return new Response(
          new ReadableStream(
            {
              async pull(c) {
                await Bun.sleep(5);
                c.enqueue(BLOCK);
              },
              cancel: close,
            },
            { highWaterMark: 0 },
          ),
        );
      }
      return new Response(`ok ${url.pathname}`);
    },
    websocket: {
      message(ws: ServerWebSocket<unknown>, message) {
        ws.send(message);
      },
    },
  });

  const b = `127.0.0.1:${backend.port}`;
  const confWith = (extra: boolean) => `/ws -> ws://${b}/ws\n${extra ? `/extra/* -> http://${b}\n` : ""}default -> http://${b}\n`;
  const project = tempProject({ "proxy.conf": confWith(false), "config.toml": testToml("[limits]\nkeep_alive_timeout = 6\n") });
  const proxy = await spawnProxy(project.conf, { args: ["--watch", "false"] });
  const base = `http://127.0.0.1:${proxy.http}`;
  const pid = proxy.proc.pid;
  const started = performance.now();
  const sample = (): Sample => ({
    atSecs: Math.round((performance.now() - started) / 100) / 10,
    rssMiB: Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024,
    fds: readdirSync(`/proc/${pid}/fd`).length,
  });

  const counts: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const firstErrors: string[] = [];
  const count = (kind: string) => (counts[kind] = (counts[kind] ?? 0) + 1);
  const fail = (kind: string, why: string) => {
    errors[kind] = (errors[kind] ?? 0) + 1;
    if (errors[kind]! <= 3) firstErrors.push(`${kind}: ${why}`);
  };
  let running = true;
  const loop = async (kind: string, pauseMs: number, body: () => Promise<void>) => {
    while (running) {
      try {
        await body();
        count(kind);
      } catch (err) {
        fail(kind, (err as Error).message);
      }
      if (pauseMs > 0) await Bun.sleep(pauseMs);
    }
  };
  let seq = 0;
  const pick = <T>(items: readonly T[]) => items[seq++ % items.length]!;

  const get = async () => {
    const res = await fetch(`${base}/get/${seq++}`);
    const text = await res.text();
    if (res.status !== 200 || !text.startsWith("ok /get/")) throw new Error(`GET answered ${res.status} ${text.slice(0, 60)}`);
  };
  const upload = async () => {
    const size = pick(SIZES);
    const parts = pattern(size);
    const body = new ReadableStream<Uint8Array>({ pull: (c) => (parts.length ? c.enqueue(parts.shift()!) : c.close()) });
    const res = await fetch(`${base}/upload`, { method: "POST", body, duplex: "half" } as RequestInit);
    const got = (await res.json()) as { length: number; sha: string };
    if (res.status !== 200 || got.length !== size || got.sha !== shaOfSize(size)) throw new Error(`upload of ${size} arrived as ${got.length} bytes`);
  };
  const download = async () => {
    const size = pick(SIZES);
    const res = await fetch(`${base}/download?size=${size}`);
    const data = new Uint8Array(await res.arrayBuffer());
    if (res.status !== 200 || data.length !== size || sha([data]) !== shaOfSize(size)) throw new Error(`download of ${size} arrived as ${data.length} bytes`);
  };
  const abortedDownload = async () => {
    const controller = new AbortController();
    const res = await fetch(`${base}/endless`, { signal: controller.signal });
    const reader = res.body!.getReader();
    let got = 0;
    while (got < 256 * 1024) got += (await reader.read()).value?.length ?? 0;
    controller.abort();
    await reader.cancel().catch(() => {});
  };
  const abortedUpload = async () => {
    const controller = new AbortController();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (sent >= 512 * 1024) {
          controller.abort();
          return;
        }
        sent += BLOCK.length;
        c.enqueue(BLOCK);
      },
    });
    // The abort is the point: a rejection from it is the intended outcome, anything else is not.
    const outcome = await fetch(`${base}/upload`, { method: "POST", body, duplex: "half", signal: controller.signal } as RequestInit).then(
      (res) => `answered ${res.status}`,
      (err: Error) => (err.name === "AbortError" ? "aborted" : err.message),
    );
    if (outcome !== "aborted") throw new Error(`aborted upload: ${outcome}`);
  };
  const wsSession = async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${proxy.http}/ws`);
    await new Promise<void>((resolve, reject) => {
      let echoed = 0;
      const timer = setTimeout(() => reject(new Error(`WebSocket session stalled after ${echoed} echoes`)), 10_000);
      ws.onopen = () => {
        for (let i = 0; i < 20; i++) ws.send(`m${i}`);
      };
      ws.onmessage = (e) => {
        if (e.data !== `m${echoed}`) reject(new Error(`WebSocket echo ${echoed} was ${String(e.data).slice(0, 20)}`));
        if (++echoed === 20) ws.close(1000, "done");
      };
      ws.onclose = (e) => {
        clearTimeout(timer);
        if (echoed === 20 && e.code === 1000) resolve();
        else reject(new Error(`WebSocket closed with ${e.code} after ${echoed} echoes`));
      };
      ws.onerror = () => reject(new Error(`WebSocket error after ${echoed} echoes`));
    });
  };

  const reloads = { applied: 0, failed: 0 };
  const controlSocket = join(project.dir, "run", "control.sock");
  const configVersion = async () => {
    const res = await fetch("http://localhost/api/v1/status", { unix: controlSocket, headers: { connection: "close" } } as RequestInit);
    return ((await res.json()) as { data: { config_version: number } }).data.config_version;
  };
  let extra = false;
  const reloadLoop = async () => {
    while (running) {
      await Bun.sleep(opts.reloadEverySecs * 1000);
      if (!running) break;
      const before = await configVersion();
      extra = !extra;
      project.write("proxy.conf", confWith(extra));
      proxy.proc.kill("SIGHUP");
      try {
        await waitFor(async () => (await configVersion()) > before, "the reload to apply", 5000, 50);
        reloads.applied++;
      } catch {
        reloads.failed++;
        fail("reload", `config_version stayed at ${before}`);
      }
    }
  };

  const start = sample();
  const samples: Sample[] = [start];
  let warm: Sample | null = null;
  const sampler = setInterval(() => {
    const s = sample();
    samples.push(s);
    if (!warm && s.atSecs >= opts.warmupSecs) {
      warm = s;
      log(`warm-up over at ${s.atSecs} s: RSS ${s.rssMiB.toFixed(1)} MiB, ${s.fds} fds`);
    }
  }, 1000);

  const loops = [
    ...Array.from({ length: opts.getClients ?? 4 }, () => loop("keep-alive GET", 5, get)),
    loop("streamed upload", 20, upload),
    loop("streamed upload", 20, upload),
    loop("streamed download", 20, download),
    loop("streamed download", 20, download),
    loop("aborted download (intended)", 50, abortedDownload),
    loop("aborted upload (intended)", 50, abortedUpload),
    loop("WebSocket session", 20, wsSession),
    loop("WebSocket session", 20, wsSession),
    reloadLoop(),
  ];
  const progress = setInterval(() => {
    const s = samples.at(-1)!;
    log(
      `${s.atSecs} s: RSS ${s.rssMiB.toFixed(1)} MiB, ${s.fds} fds, ${Object.values(counts).reduce((a, c) => a + c, 0)} operations, ${Object.values(errors).reduce((a, c) => a + c, 0)} errors`,
    );
  }, 30_000);
  await Bun.sleep(opts.seconds * 1000);
  running = false;
  await Promise.all(loops);
  clearInterval(sampler);
  clearInterval(progress);
  const end = sample();
  samples.push(end);

  // Idle client connections close after keep_alive_timeout (6 s, checked every 4 s); upstream
  // connections stay pooled for 60 s.
  await Bun.sleep((opts.idleWaitSecs ?? 11) * 1000);
  const fdsIdle = sample().fds;
  // Aborted downloads must have been cancelled upstream by now, or they leak at the backend.
  await waitFor(() => openStreams === 0, "the backend's endless streams to be cancelled", 5000).catch(() => {});
  const result: SoakResult = {
    samples,
    start,
    warm: warm ?? end,
    end,
    fdsIdle,
    counts,
    errors,
    firstErrors,
    reloads,
    openBackendStreams: openStreams,
    proxyExited: proxy.proc.exitCode !== null,
    proxyStderr: proxy.errors(),
  };
  await proxy.stop("SIGTERM");
  backend.stop(true);
  project.remove();
  return result;
}
