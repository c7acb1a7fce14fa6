/**
 * The dashboard's Cluster page (SPEC §18, §17): shown only when GET /api/v1/cluster answers with
 * enabled = true, listing the members two real nodes on a real redis-server report.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { adminToml } from "../support/admin.ts";
import { startOnProject, tempProject, type TestProxy } from "../support/project.ts";
import { startRedis, type TestRedis } from "../support/redis.ts";
import { ROOT } from "../support/spawn.ts";
import { launchBrowser } from "./browser.ts";

// Functions handed to page.evaluate() run in the browser; this project's types are Bun's, no DOM.
declare const document: any;

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.[Symbol.asyncDispose]();
});

async function node(id: string): Promise<TestProxy & { adminUrl: string }> {
  const toml = adminToml("", `[cluster]\nredis_url = "${redis.url}"\nname = "dash"\nnode_id = "${id}"\nheartbeat_secs = 1\n`);
  const proxy = await startOnProject(tempProject({ "proxy.conf": "localhost -> http://127.0.0.1:9/\n", "config.toml": toml }), { env: {} });
  return Object.assign(proxy, { adminUrl: `http://127.0.0.1:${proxy.handle.admin!.port}` });
}

test("with cluster mode on, the Cluster page lists every member and its config version", async () => {
  await using a = await node("node-a");
  await using b = await node("node-b");
  await using chrome = await launchBrowser();
  await using tp = await chrome.page();
  const { page, problems } = tp;
  await page.goto(`${a.adminUrl}/`);
  expect(await page.$$eval("nav a", (links: any[]) => links.map((l) => l.textContent))).toContain("Cluster");
  await page.goto(`${a.adminUrl}/ui/cluster`);
  await page.waitForFunction(() => document.querySelectorAll("#cluster-table tbody tr").length === 2, { timeout: 10_000 });
  const rows = await page.$$eval("#cluster-table tbody tr", (trs: any[]) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td: any) => td.textContent)));
  expect(rows.map((r) => r[0]).sort()).toEqual(["node-a", "node-b"]);
  expect(rows.every((r) => /^\d+$/.test(r[2]) && r[5] === "up")).toBe(true);
  expect(await page.$eval("#cluster-self", (e: any) => e.textContent)).toBe("node-a");
  expect(await page.$eval("#cluster-redis", (e: any) => e.textContent)).toBe("up");
  await page.screenshot({ path: join(ROOT, "docs", "dashboard-cluster.png") });
  expect(problems).toEqual([]);
  void b;
}, 30_000);

test("without cluster mode there is no Cluster page", async () => {
  await using solo = await startOnProject(tempProject({ "proxy.conf": "localhost -> http://127.0.0.1:9/\n", "config.toml": adminToml("") }), { env: {} });
  const admin = `http://127.0.0.1:${solo.handle.admin!.port}`;
  expect(await (await fetch(`${admin}/`)).text()).not.toContain('href="/ui/cluster"');
  expect((await fetch(`${admin}/ui/cluster`)).status).toBe(404);
});
