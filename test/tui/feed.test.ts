/**
 * The TUI's data feed against real proxies (SPEC §16.5): the control socket first, admin.bind
 * with the API key or Basic otherwise, the status badge, and route writes through either door.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { silentLogger } from "../../src/lib/log.ts";
import { startProxy } from "../../src/runtime/runtime.ts";
import { Feed, type FeedState } from "../../src/tui/data/feed.ts";
import { locate } from "../../src/tui/data/places.ts";
import { startTestProxy, tempProject, testToml, type TempProject } from "../support/project.ts";
import { waitFor } from "../support/wait.ts";

/** A feed polling as the TUI does; stopped when the test ends. */
function feedFor(conf: string): Feed & Disposable {
  const feed = new Feed(locate({ conf, sitesDir: "sites", env: {} })) as Feed & Disposable;
  feed[Symbol.dispose] = () => feed.stop();
  feed.start();
  return feed;
}

const until = (feed: Feed, what: string, check: (s: FeedState) => boolean): Promise<FeedState> =>
  waitFor(() => (check(feed.state) ? feed.state : null), what, 8000, 20);

/** A project that only points the TUI at someone else's admin API (no run/ here, so no socket). */
function remote(toml: string, env = ""): TempProject {
  return tempProject({ "proxy.conf": "", "config.toml": toml, ".env": env });
}

const RULE = {
  matcher: { type: "exact", value: "/tui" },
  targets: [{ url: "http://127.0.0.1:9/", weight: 100 }],
  load_balancing: "round-robin",
  auth: [],
  headers: [],
  options: null,
};

describe("the TUI feed (SPEC §16.5)", () => {
  test("polls over the control socket: badge OK, live traffic figures, routes written through the API", async () => {
    await using proxy = await startTestProxy("/ok -> http://127.0.0.1:9\n");
    using feed = feedFor(proxy.project.conf);
    feed.focus("routes");
    await until(feed, "the first poll", (s) => s.badge === "OK" && s.traffic.length > 0 && s.routes !== null);
    for (let i = 0; i < 3; i++) await fetch(`${proxy.url}/nothing-here`).then((r) => r.text());
    const counted = await until(feed, "the requests to be counted", (s) => (s.traffic.at(-1)?.requests ?? 0) >= 3);
    const added = await feed.addRoute(RULE as never);
    await until(feed, "the new route", (s) => s.routes?.length === 2);
    await feed.updateRoute(1, { ...RULE, targets: [{ url: "http://127.0.0.1:8/", weight: 100 }] } as never);
    const updated = await until(feed, "the edited route", (s) => s.routes?.[1]?.targets[0]?.url === "http://127.0.0.1:8/");
    await feed.deleteRoute(1);
    await until(feed, "the route to be gone", (s) => s.routes?.length === 1);
    expect({
      via: counted.via,
      codes: [...counted.traffic.at(-1)!.statusCodes.keys()],
      version: counted.status?.config_version,
      added,
      updated: updated.routes?.map((r) => r.targets[0]?.url),
      conf: await Bun.file(proxy.project.conf).text(),
    }).toEqual({
      via: proxy.handle.controlSocket,
      codes: ["421"],
      version: 1,
      added: { index: 1, message: "Route added" },
      updated: ["http://127.0.0.1:9/", "http://127.0.0.1:8/"],
      conf: "/ok -> http://127.0.0.1:9\n",
    });
  });

  test("over admin.bind: the API key from config.toml, and Unauthorized when it is wrong", async () => {
    await using proxy = await startTestProxy("", {
      rawToml: testToml().replace("[admin]\nenabled = false", '[admin]\nbind = "127.0.0.1:0"\napi_key = "s3cret"'),
    });
    const bind = `127.0.0.1:${proxy.handle.admin!.port}`;
    using good = remote(`[admin]\nbind = "${bind}"\napi_key = "s3cret"\n`);
    using bad = remote(`[admin]\nbind = "${bind}"\napi_key = "nope"\n`);
    using goodFeed = feedFor(good.conf);
    using badFeed = feedFor(bad.conf);
    const ok = await until(goodFeed, "OK over admin.bind", (s) => s.badge === "OK");
    const refused = await until(badFeed, "Unauthorized", (s) => s.badge === "Unauthorized");
    expect([ok.via, refused.problem, refused.signIn]).toEqual([`http://${bind}`, "admin.api_key from config.toml was refused", null]);
  });

  test("over admin.bind with Basic: asks for ADMIN_USER's password, refuses a wrong one, then writes with X-Requested-With", async () => {
    await using proxy = await startTestProxy("", {
      rawToml: testToml().replace("[admin]\nenabled = false", '[admin]\nbind = "127.0.0.1:0"'),
      files: { ".env": "ADMIN_USER=ops\nADMIN_PASSWORD=open sesame\n" },
    });
    using project = remote(`[admin]\nbind = "127.0.0.1:${proxy.handle.admin!.port}"\n`, "ADMIN_USER=ops\n");
    using feed = feedFor(project.conf);
    const asked = await until(feed, "the sign-in prompt", (s) => s.signIn !== null);
    const wrong = await feed.signIn("open says me");
    const right = await feed.signIn("open sesame");
    await until(feed, "OK after signing in", (s) => s.badge === "OK");
    const added = await feed.addRoute(RULE as never);
    expect({ badge: asked.badge, signIn: asked.signIn, wrong, right, added }).toEqual({
      badge: "Unauthorized",
      signIn: { user: "ops" },
      wrong: "wrong",
      right: "ok",
      added: { index: 0, message: "Route added" },
    });
  });

  test("Disabled without a socket and with the admin API off; Unreachable when nothing answers; actions refused meanwhile", async () => {
    using off = remote("[admin]\nenabled = false\n");
    const closed = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = closed.port;
    closed.stop(true);
    using gone = remote(`[admin]\nbind = "127.0.0.1:${port}"\n`);
    using offFeed = feedFor(off.conf);
    using goneFeed = feedFor(gone.conf);
    const disabled = await until(offFeed, "Disabled", (s) => s.badge !== "Connecting");
    const unreachable = await until(goneFeed, "Unreachable", (s) => s.badge !== "Connecting");
    const action = await goneFeed.appAction("a.test", "deploy").catch((err: Error) => err.message);
    expect([disabled.badge, unreachable.badge, unreachable.via, action]).toEqual([
      "Disabled",
      "Unreachable",
      null,
      "no proxy answers (Unreachable); actions need a running proxy",
    ]);
  });

  test("shows Unreachable when the proxy goes away and OK again when it comes back", async () => {
    // The admin API is on (its port cannot be dialled), so no socket means Unreachable, not Disabled.
    const first = await startTestProxy("", { rawToml: testToml().replace("[admin]\nenabled = false", '[admin]\nbind = "127.0.0.1:0"') });
    using feed = feedFor(first.project.conf);
    try {
      await until(feed, "OK", (s) => s.badge === "OK");
      await first.handle.shutdown();
      const gone = await until(feed, "Unreachable", (s) => s.badge === "Unreachable");
      const again = await startProxy({
        confPath: first.project.conf,
        dev: false,
        watch: false,
        sitesDir: join(first.project.dir, "sites"),
        logger: silentLogger(),
      });
      try {
        const back = await until(feed, "OK again", (s) => s.badge === "OK");
        expect([gone.via, gone.problem, back.via]).toEqual([null, "no control socket, and admin.bind has port 0 so it cannot be dialled", again.controlSocket]);
      } finally {
        await again.shutdown();
      }
    } finally {
      first.project.remove();
    }
  });
});
