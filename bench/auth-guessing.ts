/**
 * Password guessing as a CPU lever (issue 20, item 8), with figures:
 *
 *   bun bench/auth-guessing.ts [seconds=5] [guessers=20]
 *
 * A proxy process protects a rule with Basic auth (a bcrypt hash of cost 12). `guessers`
 * connections from 127.0.0.1 send wrong passwords back to back for `seconds`; meanwhile a user on
 * 127.0.0.2 logs in once a second with the right password (a fresh header each time, so bcrypt
 * runs). Prints the guesses' statuses, the bcrypt verifications the guessing cost (401 answers),
 * the proxy's CPU use and the user's login latencies. Loopback only, bounded by `seconds`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testToml } from "../test/support/project.ts";
import { spawnProxy } from "../test/support/spawn.ts";
import { table } from "./lib.ts";

const SECONDS = Number(process.argv[2] ?? 5);
const GUESSERS = Number(process.argv[3] ?? 20);
const hash = await Bun.password.hash("right", { algorithm: "bcrypt", cost: 12 });
const backend = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("ok") });
const dir = mkdtempSync(join(tmpdir(), "soli-guess-"));
writeFileSync(join(dir, "proxy.conf"), `/admin/* -> http://127.0.0.1:${backend.port} @auth:admin:${hash}\n`);
writeFileSync(join(dir, "config.toml"), testToml());
const proxy = await spawnProxy(join(dir, "proxy.conf"), { args: ["--watch", "false"] });
const cpu = () => {
  const f = readFileSync(`/proc/${proxy.proc.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
};

/** One request from `from`; resolves with the status and the milliseconds it took. */
function get(from: string, user: string, password: string, scheme = "Basic"): Promise<[number, number]> {
  const started = performance.now();
  return new Promise((resolve) => {
    let out = "";
    const s = net.connect({ port: proxy.http, host: "127.0.0.1", localAddress: from }, () =>
      s.write(`GET /admin/x HTTP/1.1\r\nHost: h\r\nAuthorization: ${scheme} ${btoa(`${user}:${password}`)}\r\nConnection: close\r\n\r\n`),
    );
    s.on("data", (d) => (out += d));
    s.on("close", () => resolve([Number(/^HTTP\/1\.1 (\d+)/.exec(out)?.[1] ?? 0), performance.now() - started]));
    s.on("error", () => resolve([0, performance.now() - started]));
  });
}

const statuses: Record<number, number> = {};
const end = Date.now() + SECONDS * 1000;
let n = 0;
const cpu0 = cpu();
const guessers = Array.from({ length: GUESSERS }, async () => {
  while (Date.now() < end) {
    const [status] = await get("127.0.0.1", "admin", `guess${n++}`);
    statuses[status] = (statuses[status] ?? 0) + 1;
  }
});
const logins: number[] = [];
const user = (async () => {
  for (let i = 0; Date.now() < end; i++) {
    // Another spelling of the scheme (`bAsic`) makes a new, uncached header: bcrypt runs each time.
    const scheme = [..."basic"].map((c, k) => ((i >> k) & 1 ? c.toUpperCase() : c)).join("");
    const [status, ms] = await get("127.0.0.2", "admin", "right", scheme);
    if (status === 200) logins.push(ms);
    else logins.push(-status);
    await Bun.sleep(1000);
  }
})();
await Promise.all([...guessers, user]);
const cpuSecs = cpu() - cpu0;
console.log(
  table([
    {
      guesses: n,
      "answers by status": JSON.stringify(statuses),
      "bcrypt runs for guesses (401s)": statuses[401] ?? 0,
      "proxy CPU s / wall s": `${cpuSecs.toFixed(1)} / ${SECONDS}`,
      "user logins ms (negative: refused)": logins.map((ms) => ms.toFixed(0)).join(" "),
    },
  ]),
);
await proxy.stop("SIGTERM");
backend.stop(true);
rmSync(dir, { recursive: true, force: true });
