/**
 * The dashboard (SPEC §18) in a real browser against a real proxy: a real backend behind two
 * rules, a managed app on blue/green slots, the admin on loopback with an api_key. The pages'
 * screenshots land in docs/ for the README.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "puppeteer-core";
import { openStreams } from "../../src/admin/sse.ts";
import { adminToml, API_KEY } from "../support/admin.ts";
import { assertBunUsableByNobody, FAST, openUp, writeApp } from "../support/apps.ts";
import { backend, type TestBackend } from "../support/backend.ts";
import { makeCa, makeLeaf } from "../support/certs.ts";
import { startOnProject, tempProject, type TestProxy } from "../support/project.ts";
import { ROOT } from "../support/spawn.ts";
import { waitFor } from "../support/wait.ts";
import { launchBrowser, type TestBrowser, type TestPage } from "./browser.ts";

// Functions handed to page.evaluate() run in the browser; this project's types are Bun's, no DOM.
declare const document: any;
declare const window: any;
declare const getComputedStyle: any;
type HTMLElement = any;
type HTMLInputElement = any;
type HTMLCanvasElement = any;

const DOCS = join(ROOT, "docs");
const HOSTILE_RULE = "/<script>alert(1)</script>/";
const HOSTILE_LOG = "<script>window.__pwned=1</script>";

let upstream: TestBackend;
let proxy: TestProxy;
let admin: string;
let chrome: TestBrowser;

beforeAll(async () => {
  assertBunUsableByNobody();
  upstream = backend(() => new Response("hello"));
  const project = tempProject({
    "proxy.conf": `localhost -> ${upstream.url}/\n${HOSTILE_RULE} -> ${upstream.url}/\n`,
    "config.toml": adminToml(`api_key = "${API_KEY}"`, `[apps]\ndefault_user = "nobody"\nhealth_check_interval_secs = 1\n`),
  });
  mkdirSync(join(project.dir, "sites"), { recursive: true });
  openUp(project);
  writeApp(project, "shop.localhost", { behaviour: { version: HOSTILE_LOG } });
  // A certificate past its notAfter, which the store still serves (with a warning).
  const ca = await makeCa("dashboard test CA");
  const old = await makeLeaf(ca, ["old.localhost"], { expired: true });
  project.write("certs/old.localhost.cert.pem", old.cert);
  project.write("certs/old.localhost.key.pem", old.key);
  proxy = await startOnProject(project, { appTimings: FAST, env: {} });
  await proxy.handle.appsStarted;
  admin = `http://127.0.0.1:${proxy.handle.admin!.port}`;
  chrome = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await chrome?.[Symbol.asyncDispose]();
  await proxy?.stop();
  upstream?.stop();
});

async function signedIn(opts?: { width?: number }): Promise<TestPage> {
  const tp = await chrome.page(opts);
  await tp.page.goto(`${admin}/`);
  await tp.page.waitForSelector("#api-key");
  await tp.page.type("#api-key", API_KEY);
  await Promise.all([tp.page.waitForNavigation(), tp.page.keyboard.press("Enter")]);
  expect(new URL(tp.page.url()).pathname).toBe("/");
  return tp;
}

async function text(page: Page, selector: string): Promise<string> {
  return page.$eval(selector, (e) => e.textContent ?? "");
}

const PAGES = [
  { name: "overview", path: "/", ready: "#version" },
  { name: "routes", path: "/ui/routes", ready: "#routes-table tbody tr" },
  { name: "apps", path: "/ui/apps", ready: "section.app" },
  { name: "certs", path: "/ui/certs", ready: "#certs-table tbody tr" },
] as const;

describe("dashboard sign-in", () => {
  test("a wrong api_key is refused and the right one signs in with a 12 h HttpOnly SameSite=Strict cookie that Sign out ends", async () => {
    await using tp = await chrome.page();
    const { page, problems } = tp;
    await page.goto(`${admin}/ui/routes`);
    expect(new URL(page.url()).pathname).toBe("/ui/login");
    await page.type("#api-key", "wrong-key");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => (document.getElementById("login-error")?.textContent ?? "") !== "");
    expect(await text(page, "#login-error")).toContain("not right");
    expect(new URL(page.url()).pathname).toBe("/ui/login");
    expect(await page.cookies()).toHaveLength(0);

    await page.$eval("#api-key", (e) => ((e as HTMLInputElement).value = ""));
    await page.type("#api-key", API_KEY);
    await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
    expect(new URL(page.url()).pathname).toBe("/");
    const [cookie] = await page.cookies();
    expect(cookie?.name).toBe("soli_session");
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.sameSite).toBe("Strict");
    expect(cookie?.secure).toBe(false); // plain HTTP on loopback
    const hours = (cookie!.expires - Date.now() / 1000) / 3600;
    expect(hours).toBeGreaterThan(11.9);
    expect(hours).toBeLessThanOrEqual(12);
    await page.waitForFunction(() => document.getElementById("version")?.textContent !== "–");

    // Signing out ends the session in this browser: the pages ask for the key again.
    await Promise.all([page.waitForNavigation(), page.click("#sign-out")]);
    expect(new URL(page.url()).pathname).toBe("/ui/login");
    expect(await page.cookies()).toHaveLength(0);
    await page.goto(`${admin}/`);
    expect(new URL(page.url()).pathname).toBe("/ui/login");
    expect(problems).toEqual([]);
  });
});

describe("dashboard pages", () => {
  test("the overview's charts show the traffic the test sends through the proxy", async () => {
    await using tp = await signedIn();
    const { page, problems } = tp;
    const before = Number(await page.$eval("#chart-rps", (e) => (e as HTMLElement).dataset.requests ?? "0"));
    const N = 300;
    for (let i = 0; i < N; i += 30) {
      await Promise.all(Array.from({ length: 30 }, () => fetch(proxy.url, { headers: { host: "localhost" } }).then((r) => r.text())));
    }
    await page.waitForFunction(
      (want) => Number((document.getElementById("chart-rps") as HTMLElement).dataset.requests ?? 0) >= want,
      { timeout: 10_000 },
      before + N,
    );
    expect(await text(page, "#p99")).toMatch(/ms$/);
    expect(await text(page, "#config-version")).toMatch(/^v\d+$/);
    // The charts are drawn: uPlot's canvas has the container's width.
    const width = await page.$eval("#chart-rps canvas", (c) => (c as HTMLCanvasElement).getBoundingClientRect().width);
    expect(width).toBeGreaterThan(300);
    await page.screenshot({ path: join(DOCS, "dashboard-overview.png") });
    expect(problems).toEqual([]);
  });

  test("the overview shows a rejected reload with its proxy.conf position until a good one replaces it", async () => {
    await using tp = await signedIn();
    const { page, problems } = tp;
    await page.waitForFunction(() => document.getElementById("config-version")?.textContent !== "–");
    const good = readFileSync(proxy.project.conf, "utf8");
    try {
      proxy.project.write("proxy.conf", `${good}/broken -> ftp://nowhere/\n`);
      expect((await proxy.handle.reload()).ok).toBe(false);
      await page.waitForFunction(() => !(document.getElementById("reload-error") as HTMLElement).hidden, { timeout: 5000 });
      expect(await text(page, "#reload-error")).toMatch(/Last reload rejected .*proxy\.conf:\d+:\d+.*ftp/);
    } finally {
      proxy.project.write("proxy.conf", good);
      expect((await proxy.handle.reload()).ok).toBe(true);
    }
    await page.waitForFunction(() => (document.getElementById("reload-error") as HTMLElement).hidden, { timeout: 5000 });
    expect(problems).toEqual([]);
  });

  test("a route name and a log line containing <script> are shown as text, never run", async () => {
    await using tp = await signedIn();
    const { page, problems } = tp;
    await page.goto(`${admin}/ui/routes`);
    await page.waitForSelector("#routes-table tbody tr:nth-child(2)");
    expect(await text(page, "#routes-table tbody tr:nth-child(2) td:nth-child(4)")).toBe(HOSTILE_RULE);
    expect(await page.$$eval("#routes-table script", (s) => s.length)).toBe(0);

    await page.goto(`${admin}/ui/apps`);
    await page.waitForFunction(
      (line) => [...document.querySelectorAll("pre.log")].some((p) => (p.textContent ?? "").includes(line)),
      { timeout: 10_000 },
      HOSTILE_LOG,
    );
    expect(await page.$$eval("#apps script", (s) => s.length)).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(problems).toEqual([]); // no alert() dialog either
    await page.close();
  });

  test("adding a route with an invalid target shows the error next to the field and changes nothing", async () => {
    await using tp = await signedIn();
    const { page, problems } = tp;
    await page.goto(`${admin}/ui/routes`);
    await page.waitForSelector("#routes-table tbody tr");
    const confBefore = readFileSync(proxy.project.conf, "utf8");
    await page.select("#matcher-type", "domain");
    await page.type("#matcher-value", "new.localhost");
    await page.type("#targets", "ftp://nowhere.example/");
    await page.click("#route-save");
    await page.waitForFunction(() => (document.getElementById("targets-error")?.textContent ?? "") !== "");
    // Named by the line the rule would take: proxy.conf has two lines.
    expect(await text(page, "#targets-error")).toMatch(/^proxy\.conf:3 \(new rule\): Invalid route: .*ftp/);
    expect(await page.$eval("#targets", (e: HTMLElement) => e.getAttribute("aria-invalid"))).toBe("true");
    expect(readFileSync(proxy.project.conf, "utf8")).toBe(confBefore);
    expect(await page.$$eval("#routes-table tbody tr", (rows) => rows.length)).toBe(2);
    expect(problems).toEqual([]);
  });

  test("a valid edit from the Routes page lands in proxy.conf and in the table", async () => {
    await using tp = await signedIn();
    const { page, problems } = tp;
    await page.goto(`${admin}/ui/routes`);
    await page.waitForSelector('[data-key="edit-0"]');
    await page.click('[data-key="edit-0"]');
    // A bad edit first: refused, named by the rule's own line, nothing written.
    const confBefore = readFileSync(proxy.project.conf, "utf8");
    await page.$eval("#targets", (e: HTMLElement) => (e.value = "not a url"));
    await page.click("#route-save");
    await page.waitForFunction(() => (document.getElementById("targets-error")?.textContent ?? "") !== "");
    expect(await text(page, "#targets-error")).toMatch(/^proxy\.conf:1: Invalid route/);
    expect(readFileSync(proxy.project.conf, "utf8")).toBe(confBefore);
    await page.$eval("#targets", (e: HTMLElement, url: string) => (e.value = url), `${upstream.url}/`);
    await page.$eval("#matcher-value", (e) => ((e as HTMLInputElement).value = ""));
    await page.type("#matcher-value", "edited.localhost");
    await page.click("#route-save");
    await waitFor(() => readFileSync(proxy.project.conf, "utf8").includes(`edited.localhost -> ${upstream.url}/`), "the edit in proxy.conf");
    await page.waitForFunction(() => document.querySelector("#routes-table tbody tr td:nth-child(4)")?.textContent === "edited.localhost");
    const res = await fetch(proxy.url, { headers: { host: "edited.localhost" } });
    expect(await res.text()).toBe("hello");
    await page.screenshot({ path: join(DOCS, "dashboard-routes.png"), fullPage: true });
    expect(problems).toEqual([]);
  });

  test("a route added from the Routes page can be deleted from it", async () => {
    await using tp = await signedIn();
    const { page, problems } = tp;
    await page.goto(`${admin}/ui/routes`);
    await page.waitForSelector("#routes-table tbody tr");
    const rowsBefore = await page.$$eval("#routes-table tbody tr", (rows) => rows.length);
    await page.select("#matcher-type", "prefix");
    await page.type("#matcher-value", "/added/");
    await page.type("#targets", `${upstream.url}/ 5`);
    await page.click("#route-save");
    await waitFor(() => readFileSync(proxy.project.conf, "utf8").includes("/added/"), "the new rule in proxy.conf");
    await page.waitForFunction((n) => document.querySelectorAll("#routes-table tbody tr").length === n + 1, {}, rowsBefore);
    tp.acceptNextDialog(); // "Delete route #n?"
    await page.click(`[data-key="delete-${rowsBefore}"]`);
    await waitFor(() => !readFileSync(proxy.project.conf, "utf8").includes("/added/"), "the rule gone from proxy.conf");
    await page.waitForFunction((n) => document.querySelectorAll("#routes-table tbody tr").length === n, {}, rowsBefore);
    expect(problems).toEqual([]);
  });

  test("a deploy started from the Apps page shows its progress live and ends on the other slot", async () => {
    await using tp = await signedIn();
    const { page, problems } = tp;
    await page.goto(`${admin}/ui/apps`);
    await page.waitForSelector('section.app[data-app="shop.localhost"] .current-slot');
    const from = await text(page, 'section.app[data-app="shop.localhost"] .current-slot');
    const to = from === "blue" ? "green" : "blue";
    await page.click('[data-key="deploy-shop.localhost"]');
    // The slot events of the deploy arrive live: the new slot starting, then serving.
    await page.waitForFunction(
      (slot) =>
        [...document.querySelectorAll('section.app[data-app="shop.localhost"] .progress li')].some((li) =>
          li.textContent?.toLowerCase().includes(`${slot}: starting`),
        ),
      { timeout: 15_000 },
      to,
    );
    await page.waitForFunction(
      (slot) => document.querySelector('section.app[data-app="shop.localhost"] .current-slot')?.textContent === slot,
      { timeout: 20_000 },
      to,
    );
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll('section.app[data-app="shop.localhost"] .progress li')].some((li) =>
          /deploy: Deployment started/.test(li.textContent ?? ""),
        ),
      { timeout: 20_000 },
    );
    const activity = await page.$$eval('section.app[data-app="shop.localhost"] .progress li', (lis) =>
      lis.map((li) => (li.textContent ?? "").replace(/^\S+ (AM |PM )?/, "")),
    );
    // The deploy phases (SPEC §14.7 Progress on /events/apps) arrive live, in order, each once.
    const phases = activity.filter((a) => /^(starting|health check|switched|draining|done|failed)/.test(a)).map((a) => a.split(/[ :]/)[0]);
    expect(phases).toEqual(["starting", "health", "switched", "draining", "done"]);
    expect(activity).toContain(`switched to ${to}`);
    await page.screenshot({ path: join(DOCS, "dashboard-apps.png"), fullPage: true });
    expect(problems).toEqual([]);
  }, 60_000);

  test("the certificates page lists every certificate with its source, issuer and days to expiry, warning under 14 days", async () => {
    await using tp = await signedIn();
    const { page, problems } = tp;
    await page.goto(`${admin}/ui/certs`);
    await page.waitForFunction(() => document.querySelectorAll("#certs-table tbody tr").length === 2);
    const rows = await page.$$eval("#certs-table tbody tr", (trs) =>
      trs.map((tr: HTMLElement) =>
        [...tr.querySelectorAll("td")].map((td: HTMLElement) => ({ text: td.textContent ?? "", warn: td.classList.contains("warn") })),
      ),
    );
    const byName = Object.fromEntries(rows.map((r) => [r[0]!.text, r]));
    const fallback = byName["self-signed"]!;
    expect([fallback[2]!.text, fallback[3]!.text, fallback[5]!.warn]).toEqual(["self-signed", "CN=soli-proxy self-signed", false]);
    expect(Number(fallback[5]!.text)).toBeGreaterThan(14);
    const expired = byName["old.localhost"]!;
    expect([expired[2]!.text, expired[3]!.text, expired[5]!.warn]).toEqual(["file", "CN=dashboard test CA", true]);
    expect(expired[5]!.text).toMatch(/^⚠ -\d+ \(renew soon\)$/);
    await page.click("#certs-reload");
    await page.waitForFunction(() => (document.getElementById("certs-message")?.textContent ?? "").startsWith("Certificates reloaded"));
    await page.screenshot({ path: join(DOCS, "dashboard-certs.png"), fullPage: true });
    expect(problems).toEqual([]);
  });

  test("keyboard-only navigation reaches every link, field and button of each page, with a visible focus ring", async () => {
    await using tp = await signedIn();
    const { page, problems } = tp;
    for (const p of PAGES) {
      await page.goto(`${admin}${p.path}`);
      await page.waitForSelector(p.ready);
      await page.waitForFunction(() => document.getElementById("live")?.textContent === "live");
      const wanted = await page.$$eval("a[href], button:not([disabled]), input, select, textarea, pre[tabindex]", (els) =>
        els
          .filter((e) => (e as HTMLElement).offsetParent !== null || (e as HTMLElement).classList.contains("skip"))
          .map((e, i) => {
            (e as HTMLElement).dataset.kbd = String(i);
            return String(i);
          }),
      );
      const reached = new Set<string>();
      let ringless = 0;
      for (let i = 0; i < wanted.length * 2 + 10 && reached.size < wanted.length; i++) {
        await page.keyboard.press("Tab");
        const seen = await page.evaluate(() => {
          const e = document.activeElement as HTMLElement | null;
          if (!e || e === document.body) return null;
          const style = getComputedStyle(e);
          return { id: e.dataset.kbd ?? null, ring: style.outlineStyle !== "none" && style.outlineWidth !== "0px" };
        });
        if (seen?.id) reached.add(seen.id);
        if (seen && !seen.ring) ringless++;
      }
      expect({ page: p.name, missed: wanted.filter((w) => !reached.has(w)) }).toEqual({ page: p.name, missed: [] });
      expect({ page: p.name, ringless }).toEqual({ page: p.name, ringless: 0 });
    }
    // An action works from the keyboard alone: Edit on route 0 then Escape-free Cancel.
    await page.goto(`${admin}/ui/routes`);
    await page.waitForSelector('[data-key="edit-0"]');
    await page.focus('[data-key="edit-0"]');
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.activeElement?.id === "matcher-value");
    expect(await text(page, "#form-title")).toBe("Edit route #0");
    expect(problems).toEqual([]);
  }, 60_000);

  test("at 390 px wide no page scrolls sideways", async () => {
    await using tp = await signedIn({ width: 390 });
    const { page, problems } = tp;
    for (const p of PAGES) {
      await page.goto(`${admin}${p.path}`);
      await page.waitForSelector(p.ready);
      const { scroll, view } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, view: document.documentElement.clientWidth }));
      expect({ page: p.name, scroll }).toEqual({ page: p.name, scroll: view });
      if (p.name === "overview") await page.screenshot({ path: join(DOCS, "dashboard-phone.png"), fullPage: true });
    }
    expect(problems).toEqual([]);
  });

  test("closing the dashboard leaves no SSE stream open on the proxy", async () => {
    await waitFor(() => openStreams() === 0, "streams of earlier tests to close");
    await using tp = await signedIn();
    const { page } = tp;
    await page.goto(`${admin}/ui/apps`);
    await page.waitForFunction(() => document.getElementById("live")?.textContent === "live");
    await waitFor(() => openStreams() === 2, "the Apps page's two streams"); // page data + app events
    await page.close();
    await waitFor(() => openStreams() === 0, "every stream to close once the page is gone");
  });
});
