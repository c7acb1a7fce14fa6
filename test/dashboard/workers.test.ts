/**
 * The dashboard's traffic series with worker processes (SPEC §15.1, §18): the workers serve the
 * traffic, the primary serves the admin, and the series counts what the workers answered.
 */
import { expect, test } from "bun:test";
import { API_KEY } from "../support/admin.ts";
import { backend } from "../support/backend.ts";
import { tempProject } from "../support/project.ts";
import { spawnProxy } from "../support/spawn.ts";
import { waitFor } from "../support/wait.ts";

test("with two worker processes the per-second series counts every request they answered", async () => {
  using b = backend(() => new Response("hello"));
  using project = tempProject({
    "proxy.conf": `localhost -> ${b.url}/\n`,
    "config.toml": `[server]\nbind = "127.0.0.1:0"\nhttps_port = 0\nworker_threads = 2\nshutdown_grace_period = 1\n\n[admin]\nenabled = true\nbind = "127.0.0.1:0"\napi_key = "${API_KEY}"\n`,
  });
  await using proxy = await spawnProxy(project.conf, { cwd: project.dir });
  const listening = proxy.listening as { admin: string };
  const series = async () => {
    const res = await fetch(`http://${listening.admin}/api/v1/metrics/series`, { headers: { "x-api-key": API_KEY } });
    const body = (await res.json()) as { data: { rps: number; status: number[] }[] };
    return body.data;
  };
  const N = 200;
  for (let i = 0; i < N; i += 20) {
    await Promise.all(Array.from({ length: 20 }, () => fetch(`http://127.0.0.1:${proxy.http}/`, { headers: { host: "localhost" } }).then((r) => r.text())));
  }
  const points = await waitFor(
    async () => {
      const p = await series();
      return p.reduce((sum, x) => sum + x.rps, 0) >= N ? p : null;
    },
    "the workers' requests in the series",
    10_000,
    200,
  );
  expect(points.reduce((sum, x) => sum + x.rps, 0)).toBe(N);
  expect(points.reduce((sum, x) => sum + x.status[1]!, 0)).toBe(N);
}, 30_000);
