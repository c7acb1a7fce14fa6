/**
 * `soli-proxy tui` in a real terminal (SPEC §16.5): tmux runs it against a running proxy with a
 * managed app; the tests type keys and read the screen.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultInfos, startAppsProxy } from "../support/apps.ts";
import { silentLogger } from "../../src/lib/log.ts";
import { startProxy } from "../../src/runtime/runtime.ts";
import { compiledBinary } from "../support/binary.ts";
import { startTestProxy, tempProject, testToml } from "../support/project.ts";
import { MAIN, runCli } from "../support/spawn.ts";
import { openTerminal, PROMPT, type Terminal } from "../support/tmux.ts";

const APP = "shop.example.com";

/** The shell line that runs the TUI, then reports its exit code and the terminal's settings. */
function tuiCommand(term: Terminal, args: string, program = `${process.execPath} ${MAIN}`, env = ""): string {
  return `stty -g > ${term.dir}/stty.before; ${env} ${program} tui ${args}; echo "tui exited $?"; stty -g > ${term.dir}/stty.after`;
}

/** After the TUI ended: what the terminal looks like to the next program. */
async function terminalState(term: Terminal) {
  await term.waitFor((s) => /tui exited \d+/.test(s) && s.trimEnd().endsWith(PROMPT.trim()), "the shell prompt after the TUI");
  const read = (name: string) => readFileSync(join(term.dir, name), "utf8");
  return {
    alternateScreen: await term.info("#{alternate_on}"),
    cursorVisible: await term.info("#{cursor_flag}"),
    sttyRestored: read("stty.before") === read("stty.after"),
  };
}

const RESTORED = { alternateScreen: "0", cursorVisible: "1", sttyRestored: true };

/** Types into a text field and presses Enter once the text is on screen (a key sent with the text would be read as part of it). */
async function submit(term: Terminal, text: string): Promise<void> {
  await term.type(text);
  await term.waitFor(`> ${text}`, `"${text}" in the input`);
  await term.keys("Enter");
}

const requestsShown = (screen: string): number => Number(/Requests\s+([\d,]+) total/.exec(screen)?.[1]?.replaceAll(",", "") ?? NaN);

describe("soli-proxy tui in a terminal (SPEC §16.5)", () => {
  test("refuses to start without a terminal, or without proxy.conf", async () => {
    using project = tempProject({ "proxy.conf": "" });
    const noTty = await runCli(["tui", "-c", project.conf]);
    const inTerminal = await openTerminal({ columns: 200, rows: 10 });
    try {
      await inTerminal.run(`${process.execPath} ${MAIN} tui -c ${project.dir}/missing.conf; echo "tui exited $?"`);
      const screen = await inTerminal.waitFor(/tui exited \d/, "the TUI's refusal");
      expect({
        noTty: [noTty.code, noTty.stderr.trim()],
        missing: screen.includes(`Error: config file '${project.dir}/missing.conf' not found`) && screen.includes("tui exited 1"),
      }).toEqual({
        noTty: [1, "Error: tui needs an interactive terminal (stdin and stdout must be a TTY)"],
        missing: true,
      });
    } finally {
      await inTerminal.close();
    }
  });

  test("shows live numbers, switches screens, deploys an app from the Apps screen, resizes and quits cleanly", async () => {
    await using proxy = await startAppsProxy({
      apps: { [APP]: { infos: defaultInfos().replace('start_script = "bun server.ts"', 'start_script = "./slow-start.sh"') } },
      conf: "/broken -> http://127.0.0.1:1\n",
      toml: '[logging]\noutput = "file:proxy.log"\nlog_endpoints = true\n',
      timings: { healthWaitMs: 15_000 },
      before: (project) => {
        // Starts 3 s late, so a deploy stays "in progress", with its phase, long enough to be seen
        // (the TUI reads the event feed once a second).
        const script = join(project.dir, "sites", APP, "slow-start.sh");
        writeFileSync(script, `#!/bin/sh\nsleep 3\nexec ${process.execPath} server.ts\n`);
        chmodSync(script, 0o755);
      },
    });
    await using term = await openTerminal({ columns: 120, rows: 40 });
    await term.run(tuiCommand(term, `-c ${proxy.project.conf} --sites-dir ${proxy.sites}`));

    const first = await term.waitFor((s) => s.includes("● OK") && /Requests\s+[\d,]+ total/.test(s), "the dashboard with figures");
    const before = requestsShown(first);
    for (let i = 0; i < 5; i++) expect((await proxy.get(APP)).status).toBe(200);
    expect((await proxy.get("any.host", "/broken")).status).toBe(502);
    const after = await term.waitFor((s) => requestsShown(s) >= before + 6, "the request counter to move by 6");

    await term.keys("2");
    const routes = await term.waitFor((s) => s.includes("SOURCE") && s.includes("/broken"), "the Routes screen");
    await term.keys("Tab");
    const apps = await term.waitFor((s) => s.includes(APP) && s.includes("serving blue") && /blue\s+port \d+\s+pid \d+/.test(s), "the Apps screen");
    await term.keys("5");
    const errors = await term.waitFor((s) => /\d\d:\d\d:\d\d 502\s+GET\s+any\.host\/broken/.test(s), "the 502 on the Errors screen");
    await term.keys("Enter");
    const details = await term.waitFor((s) => s.includes("status: 502") && s.includes("upstream: http://127.0.0.1:1"), "the details of the 502");
    await term.keys("c");
    await term.waitFor("copied", "the copy message");
    const copied = JSON.parse(await term.clipboard());
    await term.keys("Escape");
    await term.waitFor("UPSTREAM / ERROR", "the error list again");
    await term.keys("6");
    const config = await term.waitFor("/broken -> http://127.0.0.1:1", "proxy.conf on the Config screen");
    await term.keys("?");
    await term.waitFor("Keys everywhere", "the Help screen");
    await term.keys("Escape");
    await term.waitFor((s) => s.includes("/broken -> http://127.0.0.1:1") && !s.includes("Keys everywhere"), "back on Config after Esc");
    await term.keys("BTab");
    await term.waitFor("UPSTREAM / ERROR", "Shift-Tab back to Errors");

    await term.keys("3");
    await term.waitFor("serving blue", "the Apps screen again");
    await term.keys("Enter");
    await term.waitFor("choose an action", "the action menu");
    await term.keys("Enter");
    const progress = await term.waitFor("deploy in progress", "the deploy's live progress");
    // The phase itself, on the app's row beside the spinner, not cut off by the sparkline (120 columns).
    const phaseShown = await term.waitFor(
      (s) => /deploy in progress \d+s\s+(starting green on port \d+|health check \d+, [\d.]+s of \d+s)/.test(s),
      "the deploy's phase on the app's row",
    );
    const deployed = await term.waitFor((s) => s.includes("serving green") && s.includes("Deployment started (slot green)"), "the app served by green", 20_000);

    await term.keys("Enter");
    await term.waitFor("choose an action", "the action menu again");
    for (const item of ["Restart", "Stop", "Rollback", "View Logs"]) {
      await term.keys("j");
      await term.waitFor(`▶ ${item}`, `${item} selected`);
    }
    await term.keys("Enter");
    const logs = await term.waitFor((s) => s.includes(`Logs of ${APP}`) && s.includes(`=== ${APP} (green) ===`), "the log viewer");
    await term.keys("Escape");
    await term.waitFor("serving green", "the Apps screen after the log viewer");

    await term.resize(90, 24);
    const resized = await term.waitFor((s) => s.split("\n")[23]?.includes("q quit") === true, "the footer on the last row of a smaller terminal");

    await term.keys("q");
    const state = await terminalState(term);
    const screen = await term.screen();
    expect({
      counted: after.includes("● OK"),
      routes: /0\s+\/broken\s+http:\/\/127\.0\.0\.1:1\//.test(routes),
      apps: apps.includes("◀ current"),
      errors: errors.includes("http://127.0.0.1:1"),
      details: details.includes("layer: endpoint"),
      copied: [copied.status, copied.path, copied.msg],
      config: /1 \/broken -> http:\/\/127\.0\.0\.1:1/.test(config),
      progress: /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] deploy in progress \d+s/.test(progress),
      phase: phaseShown.includes(APP),
      event: deployed.includes(`${APP} deployed to green`),
      logs: /test app v1 listening on \d+/.test(logs),
      widest: Math.max(...resized.split("\n").map((l) => l.trimEnd().length)) <= 90,
      exit: screen.includes("tui exited 0"),
      ...state,
    }).toEqual({
      counted: true,
      routes: true,
      apps: true,
      errors: true,
      details: true,
      copied: [502, "/broken", "endpoint request"],
      config: true,
      progress: true,
      phase: true,
      event: true,
      logs: true,
      widest: true,
      exit: true,
      ...RESTORED,
    });
    const slot = JSON.parse(readFileSync(join(proxy.project.dir, "run", "app_state.json"), "utf8"))[APP].current_slot;
    expect(slot).toBe("green");
  }, 60_000);

  // Serial, like the two above: its password check is CPU work with a deadline, and the live
  // numbers test is long. The four below mostly wait on their terminals and run together (issue 19).
  test("signs in with Basic over admin.bind after a wrong password; Esc at the prompt ends with Authentication failed", async () => {
    await using proxy = await startTestProxy("", {
      rawToml: testToml().replace("[admin]\nenabled = false", '[admin]\nbind = "127.0.0.1:0"'),
      files: { ".env": "ADMIN_USER=ops\nADMIN_PASSWORD=open sesame\n" },
    });
    // Another directory that only knows where the admin API is: no control socket there.
    using remote = tempProject({ "proxy.conf": "", "config.toml": `[admin]\nbind = "127.0.0.1:${proxy.handle.admin!.port}"\n`, ".env": "ADMIN_USER=ops\n" });
    await using term = await openTerminal({ columns: 100, rows: 24 });
    await term.run(tuiCommand(term, `-c ${remote.conf}`));
    await term.waitFor("Sign in as ops", "the sign-in prompt");
    await term.type("open says me");
    await term.waitFor(`Password: ${"*".repeat(12)}`, "the masked password");
    await term.keys("Enter");
    const wrong = await term.waitFor("Wrong password (2 attempts left)", "the wrong password");
    await term.type("open sesame");
    await term.waitFor(`Password: ${"*".repeat(11)}`, "the masked password");
    await term.keys("Enter");
    const signedIn = await term.waitFor((s) => s.includes("● OK") && s.includes("Requests"), "the dashboard after signing in");
    await term.keys("q");
    const first = await terminalState(term);
    await term.run("clear");
    await term.run(tuiCommand(term, `-c ${remote.conf}`));
    await term.waitFor("Sign in as ops", "the prompt again");
    await term.keys("Escape");
    const second = await terminalState(term);
    const screen = await term.screen();
    expect({
      masked: wrong.includes("open says me"),
      via: signedIn.includes(`via http://127.0.0.1:${proxy.handle.admin!.port}`),
      first,
      failed: screen.includes("Error: Authentication failed") && screen.includes("tui exited 1"),
      second,
    }).toEqual({ masked: false, via: true, first: RESTORED, failed: true, second: RESTORED });
  }, 30_000);

  test.concurrent("adds, edits, searches and deletes routes on the Routes screen through the admin API", async () => {
    await using proxy = await startTestProxy("/one -> http://127.0.0.1:9\n");
    await using term = await openTerminal({ columns: 120, rows: 30 });
    await term.run(tuiCommand(term, `-c ${proxy.project.conf}`));
    await term.waitFor("● OK", "the TUI");
    await term.keys("2");
    await term.waitFor("/one", "the Routes screen");
    await term.keys("a");
    await term.waitFor("Add a rule", "the rule input");
    await submit(term, "/two -> ftp://nowhere");
    const refused = await term.waitFor("unsupported scheme", "the error of a bad line");
    // Esc alone: a key right after it would read as Alt+key.
    await term.keys("Escape");
    await term.waitFor((s) => !s.includes("Add a rule"), "the input to close");
    await term.keys("a");
    await term.waitFor("Add a rule", "the rule input again");
    await submit(term, "/two -> http://127.0.0.1:8, weight:5 http://127.0.0.1:7");
    await term.waitFor((s) => s.includes("Route added as #1") && /1\s+\/two/.test(s), "the added route in the list");
    await term.keys("G");
    await term.waitFor(/▶ +1 +\/two/, "the cursor on the new route");
    await term.keys("e");
    await term.waitFor("Edit rule #1", "the edit input");
    await term.keys("BSpace");
    await term.waitFor(/127\.0\.0\.1:7$/m, "one character less");
    await term.keys("BSpace");
    await term.waitFor(/127\.0\.0\.1:$/m, "two characters less");
    await term.type("6 @lb:failover");
    await term.waitFor("http://127.0.0.1:6 @lb:failover", "the edited line");
    await term.keys("Enter");
    const edited = await term.waitFor((s) => s.includes("Route #1 updated") && s.includes("failover"), "the edited route in the list");
    const conf = readFileSync(proxy.project.conf, "utf8");
    await term.keys("/");
    await term.waitFor(/^ \/ *$/m, "the search field");
    await term.type("one");
    const filtered = await term.waitFor((s) => s.includes("/ one") && !s.includes("/two"), "the list filtered");
    await term.keys("Escape");
    await term.waitFor((s) => s.includes("/two") && !s.includes("/ one"), "the whole list again");
    await term.keys("G");
    await term.waitFor(/▶ +1 +\/two/, "the cursor on the route to delete");
    await term.keys("d");
    await term.waitFor("Delete route #1", "the delete question");
    await term.keys("y");
    await term.waitFor((s) => s.includes("Route #1 deleted") && !s.includes("/two"), "the deleted route gone from the list");
    await term.keys("q");
    const state = await terminalState(term);
    expect({
      refused: refused.includes("col 9: unsupported scheme 'ftp:'"),
      filtered: /0\s+\/one/.test(filtered),
      edited: /1\s+\/two\s+http:\/\/127\.0\.0\.1:8\/, weight:5 http:\/\/127\.0\.0\.1:6\/\s+failover/.test(edited),
      conf,
      final: readFileSync(proxy.project.conf, "utf8"),
      ...state,
    }).toEqual({
      refused: true,
      filtered: true,
      edited: true,
      conf: "/one -> http://127.0.0.1:9\n/two -> http://127.0.0.1:8/, weight:5 http://127.0.0.1:6/ @lb:failover\n",
      final: "/one -> http://127.0.0.1:9\n",
      ...RESTORED,
    });
  }, 30_000);

  test.concurrent("gives the terminal back after an uncaught error and after SIGTERM", async () => {
    await using proxy = await startTestProxy("");
    await using term = await openTerminal({ columns: 100, rows: 24 });
    await term.run(tuiCommand(term, `-c ${proxy.project.conf}`, undefined, "SOLI_PROXY_INTERNAL_TUI_CRASH_MS=3000"));
    await term.waitFor("● OK", "the TUI before the crash");
    const crashed = await terminalState(term);
    const crashScreen = await term.screen();
    await term.run("clear");
    await term.run(tuiCommand(term, `-c ${proxy.project.conf}`));
    await term.waitFor("● OK", "the TUI");
    const pid = (await term.info("#{pane_pid}")).trim();
    const child = Bun.spawnSync(["pgrep", "-P", pid]).stdout.toString().trim().split("\n")[0]!;
    process.kill(Number(child), "SIGTERM");
    const terminated = await terminalState(term);
    expect({
      crash: crashScreen.includes("Error: simulated crash (SOLI_PROXY_INTERNAL_TUI_CRASH_MS)") && crashScreen.includes("tui exited 1"),
      crashed,
      signal: (await term.screen()).includes("tui exited 0"),
      terminated,
    }).toEqual({ crash: true, crashed: RESTORED, signal: true, terminated: RESTORED });
  }, 30_000);

  test.concurrent("the compiled executable's tui draws, shows Unreachable while the proxy is away, reconnects, and quits cleanly", async () => {
    const exe = await compiledBinary();
    // Admin on (its port cannot be dialled): without the socket the badge is Unreachable, not Disabled.
    const first = await startTestProxy("/api/* -> http://127.0.0.1:9\n", {
      rawToml: testToml().replace("[admin]\nenabled = false", '[admin]\nbind = "127.0.0.1:0"'),
    });
    const project = first.project;
    let second: Awaited<ReturnType<typeof startProxy>> | null = null;
    try {
      await using term = await openTerminal({ columns: 100, rows: 30 });
      await term.run(tuiCommand(term, `-c ${project.conf}`, exe));
      const drawn = await term.waitFor((s) => s.includes("● OK") && s.includes("Requests"), "the compiled TUI's dashboard");
      await term.keys("2");
      const routes = await term.waitFor("/api/*", "the Routes screen");
      await first.handle.shutdown();
      const away = await term.waitFor("● Unreachable", "Unreachable while no proxy runs");
      second = await startProxy({ confPath: project.conf, dev: false, watch: false, sitesDir: join(project.dir, "sites"), logger: silentLogger() });
      const back = await term.waitFor((s) => s.includes("● OK") && s.includes("/api/*"), "OK again once a proxy runs");
      await term.keys("q");
      const state = await terminalState(term);
      expect({
        header: drawn.includes("1 Dashboard  2 Routes  3 Apps  4 Circuits  5 Errors  6 Config  7 Help"),
        routes: /0\s+\/api\/\*\s+http:\/\/127\.0\.0\.1:9\//.test(routes),
        away: away.includes("● Unreachable  no control socket"),
        back: back.includes(`via ${second.controlSocket}`),
        exit: (await term.screen()).includes("tui exited 0"),
        ...state,
      }).toEqual({ header: true, routes: true, away: true, back: true, exit: true, ...RESTORED });
    } finally {
      await second?.shutdown();
      project.remove();
    }
  }, 60_000);

  test.concurrent("the Circuits screen shows an open breaker, and the log viewer's f stops and resumes following a growing log", async () => {
    await using proxy = await startAppsProxy({
      apps: { [APP]: {} },
      conf: "/broken -> http://127.0.0.1:1\n",
      toml: "[circuit_breaker]\nfailure_threshold = 1\n",
    });
    expect((await proxy.get("any.host", "/broken")).status).toBe(502);
    const log = join(proxy.project.dir, "run", "logs", APP, "blue.log");
    const { appendFileSync } = await import("node:fs");
    await using term = await openTerminal({ columns: 120, rows: 30 });
    await term.run(tuiCommand(term, `-c ${proxy.project.conf} --sites-dir ${proxy.sites}`));
    await term.waitFor("● OK", "the TUI connected");
    await term.keys("4");
    const circuits = await term.waitFor((s) => /http:\/\/127\.0\.0\.1:1\s+open\s+1\s+0/.test(s), "the open breaker on the Circuits screen");

    await term.keys("3");
    await term.waitFor("serving blue", "the Apps screen");
    await term.keys("Enter");
    await term.waitFor("choose an action", "the action menu");
    for (const item of ["Restart", "Stop", "Rollback", "View Logs"]) {
      await term.keys("j");
      await term.waitFor(`▶ ${item}`, `${item} selected`);
    }
    await term.keys("Enter");
    await term.waitFor("f follow: on", "the log viewer, following");
    appendFileSync(log, Array.from({ length: 60 }, (_, i) => `line A${i}`).join("\n") + "\n");
    const followed = await term.waitFor("line A59", "the newest line while following");
    await term.keys("f");
    await term.waitFor("f follow: off", "following off");
    const still = await term.screen();
    const linesRead = (s: string) => Number(/lines \d+-\d+ of (\d+)/.exec(s)?.[1] ?? 0);
    const before = linesRead(still);
    appendFileSync(log, Array.from({ length: 60 }, (_, i) => `line B${i}`).join("\n") + "\n");
    // Not following: the next poll of the feed reads the B lines (the title's count grows) while
    // the view stays on the A lines; stepping down a line at a time (bounded, each step awaited
    // as a redraw) shows them without the view having jumped to the newest one.
    let paused = await term.waitFor((s) => linesRead(s) >= before + 60, "the feed to read the B lines");
    for (let i = 0; i < 30 && !paused.includes("line B0"); i++) {
      const shown = paused;
      await term.keys("j");
      paused = await term.waitFor((s) => s !== shown, "the view to scroll one line");
    }
    await term.keys("f");
    const resumed = await term.waitFor("line B59", "the newest line once following again");
    await term.keys("Escape");
    await term.keys("q");
    await terminalState(term);
    expect([
      circuits.includes("UPSTREAM"),
      followed.includes("line A59"),
      still.includes("line A59"),
      paused.includes("line B0"),
      paused.includes("line B59"),
      resumed.includes("f follow: on"),
    ]).toEqual([true, true, true, true, false, true]);
  });
});
