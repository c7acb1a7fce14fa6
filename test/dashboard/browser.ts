/**
 * A real browser for the dashboard tests: Debian's chromium (from apt, never downloaded by npm),
 * driven by puppeteer-core, headless, with a fresh profile that is removed when it closes.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export interface TestBrowser extends AsyncDisposable {
  readonly browser: Browser;
  /** A new page in a fresh context (no cookies) that fails the test on any script error or dialog it did not expect. */
  page(opts?: { width?: number; height?: number }): Promise<TestPage>;
}

export interface TestPage extends AsyncDisposable {
  readonly page: Page;
  /** Uncaught errors and unexpected dialogs seen so far. */
  readonly problems: string[];
  /** Accepts the next confirm() instead of counting it as a problem. */
  acceptNextDialog(): void;
}

export async function launchBrowser(): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), "soli-chromium-"));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-dev-shm-usage",
      `--user-data-dir=${profile}`,
    ],
  });
  return {
    browser,
    async page(opts = {}) {
      // Its own context: no cookies shared with the other pages of the test.
      const context = await browser.createBrowserContext();
      const page = await context.newPage();
      page.once("close", () => void context.close().catch(() => {}));
      await page.setViewport({ width: opts.width ?? 1280, height: opts.height ?? 900 });
      const problems: string[] = [];
      let expectDialog = false;
      page.on("pageerror", (err) => problems.push(`page error: ${(err as Error).message}`));
      page.on("dialog", (dialog) => {
        if (expectDialog) {
          expectDialog = false;
          void dialog.accept();
        } else {
          problems.push(`unexpected dialog: ${dialog.message()}`);
          void dialog.dismiss();
        }
      });
      return { page, problems, acceptNextDialog: () => (expectDialog = true), [Symbol.asyncDispose]: () => page.close().catch(() => {}) };
    },
    async [Symbol.asyncDispose]() {
      await browser.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
