/** @jsxImportSource hono/jsx */
/**
 * The dashboard on the admin listener (SPEC §18): pages at `/` and `/ui/<page>`, static assets at
 * `/ui/assets/*`, sign-in and sign-out, and one SSE stream per page (`/ui/events/<page>`) that
 * sends the page's data whenever it changed, checked every second. The admin guard has already
 * applied the rate limit, credentials and the X-Requested-With rule before anything here runs.
 */
import type { Context } from "hono";
import { constantTimeEqual } from "../guard.ts";
import { ApiError, failure, readJson } from "../envelope.ts";
import type { AdminEnv, AdminPort } from "../port.ts";
import type { AdminApp } from "../routes/common.ts";
import { sseResponse } from "../sse.ts";
import { assetResponse } from "./assets.ts";
import { LiveData, PAGES, type LocalFetch, type Page } from "./live.ts";
import { LoginView, PageView } from "./pages.tsx";
import type { Sessions } from "./session.ts";

/**
 * How often a page stream looks for changes (SPEC §18: at least every 2 s). The Apps page reads
 * every slot log each time, so it looks half as often.
 */
const PAGE_TICK_MS = 1000;
const APPS_TICK_MS = 2000;

type AdminContext = Context<{ Bindings: AdminEnv }>;

export function dashboardRoutes(app: AdminApp, port: AdminPort, sessions: Sessions, local: LocalFetch): void {
  const live = new LiveData(local, () => port.current().snapshot.files.conf);
  const basicConfigured = () => port.basicCredentials() !== null;
  const apiKey = () => port.current().settings.admin.api_key;

  const page = async (c: AdminContext, name: Page) => {
    const cluster = await live.clusterEnabled();
    if (name === "cluster" && !cluster) return failure(404, "Not found");
    const frame = {
      page: name,
      version: port.version,
      open: apiKey() === "" && !basicConfigured(),
      session: apiKey() !== "" && !c.req.header("x-api-key") && (await sessions.valid(c, apiKey())),
      cluster,
    };
    return c.html(`<!DOCTYPE html>${<PageView frame={frame} />}`, 200, SECURITY_HEADERS);
  };

  app.get("/", (c) => page(c, "overview"));
  for (const name of PAGES) if (name !== "overview") app.get(`/ui/${name}`, (c) => page(c, name));

  app.get("/ui/assets/:name", (c) => assetResponse(c.req.param("name"), c.req.raw) ?? failure(404, "Not found"));

  app.get("/ui/login", (c) => {
    if (apiKey() === "") return c.redirect("/", 303);
    return c.html(`<!DOCTYPE html>${<LoginView version={port.version} basic={basicConfigured()} />}`, 200, SECURITY_HEADERS);
  });

  // The sign-in form posts the key with X-Requested-With (the guard refuses a cross-site POST);
  // the guard's rate limit is what slows down guessing.
  app.post("/ui/login", async (c) => {
    const key = apiKey();
    if (key === "") throw new ApiError(404, "Sign-in is for an admin with an api_key");
    const body = await readJson(c);
    const presented = typeof body === "object" && body !== null ? (body as { api_key?: unknown }).api_key : undefined;
    if (typeof presented !== "string" || !constantTimeEqual(presented, key)) throw new ApiError(401, "Unauthorized");
    await sessions.issue(c, key);
    return c.json({ ok: true, data: { message: "Signed in" } });
  });

  app.post("/ui/logout", async (c) => {
    await sessions.end(c, apiKey());
    return c.json({ ok: true, data: { message: "Signed out" } });
  });

  // Reached only with valid Basic credentials (the guard answers 401 + WWW-Authenticate before).
  app.get("/ui/basic", (c) => c.redirect("/", 303));

  app.get("/ui/events/:page", (c) => {
    const name = c.req.param("page") as Page;
    if (!PAGES.includes(name)) return failure(404, "Not found");
    return sseResponse(c, (sink) => {
      let last = "";
      let busy = false;
      const tick = async () => {
        if (busy) return;
        busy = true;
        try {
          const data = await live.page(name);
          const text = JSON.stringify(data);
          if (text !== last && sink.send(data, "page")) last = text;
        } catch (err) {
          // A page that cannot be built this second tries again the next; the admin stays up.
          port.log().warn({ err: (err as Error).message, page: name }, "dashboard page data failed");
        } finally {
          busy = false;
        }
      };
      void tick();
      const timer = setInterval(() => void tick(), name === "apps" ? APPS_TICK_MS : PAGE_TICK_MS);
      return () => clearInterval(timer);
    });
  });
}

/**
 * Pages run only our own script and style: no inline script, nothing from another origin, no
 * framing (clickjacking). Data is written as text (client.js), so markup in a route name or a
 * log line stays text even without this policy.
 */
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};
