/**
 * Shared pieces of the end-to-end benchmarks: starting processes, waiting for ports, reading a
 * process's CPU time from /proc, and running wrk. Benchmarks only; never imported by tests.
 */
import type { Subprocess } from "bun";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";

export const ROOT = new URL("..", import.meta.url).pathname;
export const BUN = process.execPath;

export function have(cmd: string): boolean {
  return Bun.which(cmd) !== null;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function waitPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const c = net.connect(port, "127.0.0.1", () => (c.destroy(), r(true)));
      c.on("error", () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} did not open`);
    await Bun.sleep(50);
  }
}

/** utime + stime of a process and its threads, in microseconds. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1_000_000) / 100; // USER_HZ is 100 on Linux
}

/** Peak resident set size of a process, in MiB. */
export function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

export function start(cmd: string[], env: Record<string, string> = {}): Subprocess {
  return Bun.spawn(cmd, { cwd: ROOT, env: { ...process.env, ...env }, stdout: "ignore", stderr: "inherit" });
}

export interface LoadResult {
  rps: number;
  p50ms: number;
  p99ms: number;
  requests: number;
  errors: number;
}

function ms(text: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(text);
  if (!m) return Number.NaN;
  const v = Number(m[1]);
  return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
}

/** wrk with latency distribution; `args` are extra wrk arguments. */
export async function wrk(url: string, seconds: number, connections: number, args: string[] = []): Promise<LoadResult> {
  const p = Bun.spawn(["wrk", "-t1", `-c${connections}`, `-d${seconds}s`, "--latency", ...args, url], { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(p.stdout).text();
  await p.exited;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const errors =
    [...out.matchAll(/(?:connect|read|write|timeout) (\d+)/g)].reduce((a, m) => a + Number(m[1]), 0) +
    Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return { rps, p50ms: ms(/50%\s+(\S+)/.exec(out)?.[1] ?? ""), p99ms: ms(/99%\s+(\S+)/.exec(out)?.[1] ?? ""), requests, errors };
}

export function nginxAvailable(): boolean {
  return have("nginx") || existsSync("/usr/sbin/nginx");
}

/**
 * A backend answering every request with the 12 bytes "hello world\n": nginx (one worker, no access
 * log) when installed, which costs less CPU per request than a Bun backend on a small machine.
 */
export function startHelloBackend(dir: string, port: number): Subprocess {
  if (!nginxAvailable()) return start([BUN, "-e", `Bun.serve({port:${port},hostname:"127.0.0.1",fetch:()=>new Response("hello world\\n")})`]);
  const conf = `${dir}/nginx.conf`;
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `  ${t}_temp_path ${dir};\n`).join("");
  writeFileSync(
    conf,
    `worker_processes 1;\nerror_log ${dir}/nginx-error.log;\npid ${dir}/nginx.pid;\nevents { worker_connections 4096; }\nhttp {\n  access_log off;\n${temp}  keepalive_requests 1000000;\n  server {\n    listen 127.0.0.1:${port};\n    location / { return 200 "hello world\\n"; }\n  }\n}\n`,
  );
  return start([Bun.which("nginx", { PATH: "/usr/sbin:/usr/bin" }) ?? "nginx", "-c", conf, "-g", "daemon off;"]);
}

export function table(rows: Record<string, string | number>[]): string {
  const cols = Object.keys(rows[0] ?? {});
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(width[i]!)).join("  ");
  return [line(cols), line(width.map((w) => "-".repeat(w))), ...rows.map((r) => line(cols.map((c) => String(r[c]))))].join("\n");
}
