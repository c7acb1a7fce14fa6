/**
 * The dashboard from the compiled executable (SPEC §18): copied alone into an empty directory
 * with a bare environment, it serves the pages and every asset from inside itself, and the page
 * asks nothing of any other origin. Also measures what a first visit transfers.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { compiledBinary } from "../support/binary.ts";
import { tempProject, type TempProject } from "../support/project.ts";
import { spawnProxy } from "../support/spawn.ts";
import { launchBrowser } from "./browser.ts";

// Functions handed to page.evaluate() run in the browser; this project's types are Bun's, no DOM.
declare const document: any;

let project: TempProject;
let exe: string;

beforeAll(async () => {
  const built = await compiledBinary();
  project = tempProject();
  exe = join(project.dir, "soli-proxy");
  copyFileSync(built, exe);
}, 180_000);

afterAll(() => project?.remove());

test("the compiled executable serves the whole dashboard from itself, nothing from another origin", async () => {
  project.write("proxy.conf", "localhost -> http://127.0.0.1:9/\n");
  project.write("config.toml", `[server]\nbind = "127.0.0.1:0"\nhttps_port = 0\nworker_threads = 1\n\n[admin]\nenabled = true\nbind = "127.0.0.1:0"\n`);
  await using proxy = await spawnProxy(project.conf, { exe, env: { PATH: "/usr/bin:/bin", HOME: project.dir }, cwd: project.dir });
  const listening = proxy.listening as { admin: string };
  const origin = `http://${listening.admin}`;

  await using chrome = await launchBrowser();
  await using tp = await chrome.page();
  const { page, problems } = tp;
  const cdp = await page.createCDPSession();
  await cdp.send("Network.enable");
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
  const urls: string[] = [];
  const failed: string[] = [];
  let bytes = 0;
  cdp.on("Network.requestWillBeSent", (e) => urls.push(e.request.url));
  cdp.on("Network.loadingFinished", (e) => (bytes += e.encodedDataLength));
  cdp.on("Network.loadingFailed", (e) => failed.push(`${e.errorText}`));
  await page.goto(`${origin}/`, { waitUntil: "load" });
  await page.waitForFunction(() => document.getElementById("live")?.textContent === "live" && document.querySelector("#chart-rps canvas") !== null);
  // EventSource streams never finish loading; what they sent is not part of the page's weight.
  console.log(`dashboard first visit: ${urls.length} requests, ${bytes} bytes transferred (gzip)`);
  expect(urls.filter((u) => !u.startsWith(`${origin}/`))).toEqual([]);
  expect(urls.map((u) => new URL(u).pathname).sort()).toEqual(
    [
      "/",
      "/api/v1/events/metrics",
      "/ui/assets/client.js",
      "/ui/assets/style.css",
      "/ui/assets/uPlot.iife.min.js",
      "/ui/assets/uPlot.min.css",
      "/ui/events/overview",
    ].sort(),
  );
  expect(failed).toEqual([]);
  expect(bytes).toBeLessThan(60_000);
  expect(problems).toEqual([]);
}, 60_000);
