import { describe, expect, test } from "bun:test";
import { MAIN } from "../support/spawn.ts";
import { setBehaviour, startAppsProxy } from "../support/apps.ts";
import { ControlClient } from "../../src/control/client.ts";
import { waitFor } from "../support/wait.ts";

/** The data of an admin answer over the control socket. */
async function call(socket: string, method: string, path: string): Promise<{ status: number; body: { ok: boolean; data?: any; error?: string } }> {
  const res = await fetch(`http://localhost/api/v1/${path}`, { method, unix: socket } as RequestInit);
  return { status: res.status, body: (await res.json()) as { ok: boolean; data?: any; error?: string } };
}

// Concurrent (issue 19): each test has its own project, proxy and apps; they wait for app boots
// and deploys. Measured 6.6 / 9.8 s in series, 6.3 / 7.2 s together.
describe.concurrent("managed apps through the admin API and the control socket (SPEC §11.2, §16.1)", () => {
  test("apps are listed and shown, deployed to the other slot, and their logs and events are served", async () => {
    await using proxy = await startAppsProxy({ apps: { "shop.example.com": {} } });
    const socket = proxy.handle.controlSocket!;
    const events: object[] = [];
    const sse = await fetch("http://localhost/api/v1/events/apps", { unix: socket } as RequestInit);
    const reader = sse.body!.getReader();
    void (async () => {
      let buffer = "";
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        buffer += new TextDecoder().decode(r.value);
        for (let at = buffer.indexOf("\n\n"); at >= 0; at = buffer.indexOf("\n\n")) {
          const line = buffer.slice(0, at);
          if (line.startsWith("data: ")) events.push(JSON.parse(line.slice(6)));
          buffer = buffer.slice(at + 2);
        }
      }
    })();
    const list = await call(socket, "GET", "apps");
    const deploy = await call(socket, "POST", "apps/shop.example.com/deploy");
    const after = await call(socket, "GET", "apps/shop.example.com");
    const logs = await call(socket, "GET", "apps/shop.example.com/logs");
    const missing = await call(socket, "GET", "apps/nope.example.com");
    await waitFor(() => events.some((e) => (e as { type: string }).type === "Deployed"), "the Deployed event");
    await reader.cancel();
    expect({
      listed: list.body.data.map((a: { config: { name: string } }) => a.config.name),
      deploy: deploy.body.data,
      slot: after.body.data.current_slot,
      green: after.body.data.green.status,
      logKeys: Object.keys(logs.body.data).sort(),
      missing: [missing.status, missing.body.error],
      deployed: events.find((e) => (e as { type: string }).type === "Deployed"),
    }).toEqual({
      listed: ["shop.example.com"],
      deploy: { message: "Deployment started", app: "shop.example.com", slot: "green" },
      slot: "green",
      green: "Running",
      logKeys: ["app", "blue", "green"],
      missing: [404, "App not found: nope.example.com"],
      deployed: { type: "Deployed", app_name: "shop.example.com", slot: "green" },
    });
  });

  test("a failed deploy is a 500 with the SPEC message, once", async () => {
    await using proxy = await startAppsProxy({ apps: { "bad.example.com": { behaviour: {} } } });
    // Break the health check of every new start: the deploy must fail and say why.
    setBehaviour(`${proxy.sites}/bad.example.com`, { health: 500 });
    const r = await call(proxy.handle.controlSocket!, "POST", "apps/bad.example.com/deploy");
    expect([
      r.status,
      r.body.error?.startsWith("Deployment failed: bad.example.com slot green did not become healthy on http://127.0.0.1:"),
      r.body.error?.includes("Deployment failed: Deployment failed"),
    ]).toEqual([500, true, false]);
  });

  test("the lifecycle CLI asks the running proxy over run/control.sock", async () => {
    await using proxy = await startAppsProxy({ apps: { "cli.example.com": {} } });
    // Spawned asynchronously: the proxy answering the socket runs in this very process.
    const run = async (...args: string[]) => {
      const p = Bun.spawn([process.execPath, MAIN, ...args, "-c", proxy.project.conf, "--sites-dir", proxy.sites], { stdout: "pipe", stderr: "pipe" });
      const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      return [code, out.trim().split("\n").at(-1), err.trim()];
    };
    const deploy = await run("deploy", "cli.example.com");
    const slot = proxy.handle.apps.get("cli.example.com").current_slot;
    const stop = await run("stop", "cli.example.com");
    const status = await new ControlClient(proxy.handle.controlSocket!).get<{ stopped: boolean }>("apps/cli.example.com");
    expect([deploy, slot, stop, status.stopped]).toEqual([
      [0, "cli.example.com deployed successfully (slot green)", ""],
      "green",
      [0, "cli.example.com stopped successfully", ""],
      true,
    ]);
  });
});
