/**
 * A real nginx (Debian's) as a backend that normalises paths as real apps do: it decodes `%61`,
 * merges `//` and resolves `..` before choosing a location (issue 20). Started on a free loopback
 * port with its own temp prefix and config, in the foreground as the current user; never port 80.
 * It answers `uri=<what nginx resolved> request_uri=<what it was sent>` on every path.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "./wait.ts";

export interface Nginx extends AsyncDisposable {
  readonly port: number;
  readonly url: string;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startNginx(): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), "soli-nginx-"));
  mkdirSync(join(dir, "tmp"));
  const port = await freePort();
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((k) => `${k}_temp_path ${dir}/tmp/${k};`).join("\n  ");
  writeFileSync(
    join(dir, "nginx.conf"),
    `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 256; }
http {
  access_log off;
  ${temp}
  server {
    listen 127.0.0.1:${port};
    location / { return 200 "uri=$uri request_uri=$request_uri"; }
  }
}
`,
  );
  const proc = Bun.spawn(["nginx", "-p", dir, "-e", join(dir, "error.log"), "-c", join(dir, "nginx.conf")], { stdout: "ignore", stderr: "pipe" });
  const stop = async () => {
    proc.kill("SIGTERM");
    await proc.exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () =>
        (await fetch(`http://127.0.0.1:${port}/`).then(
          (r) => r.ok,
          () => false,
        )) || proc.exitCode !== null,
      "nginx to listen",
      10_000,
    );
    if (proc.exitCode !== null) throw new Error(`nginx exited: ${await new Response(proc.stderr).text()}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, url: `http://127.0.0.1:${port}`, [Symbol.asyncDispose]: stop };
}
