/**
 * The TUI (SPEC §16.5): seven screens over the Feed, one key handler, and the views that open
 * over a screen (search, rule input, y/n, app menu, log viewer, error details). What is drawn
 * comes from the pure models; this file only keeps UI state and routes keys.
 */
import { Box, Text, useApp, useInput, useWindowSize } from "ink";
import TextInput from "ink-text-input";
import { useEffect, useReducer, useRef, useState, useSyncExternalStore } from "react";
import type { Feed, Topic } from "../data/feed.ts";
import type { Rule } from "../data/api-types.ts";
import { APP_MENU, appRows, logLines, type AppAction } from "../model/apps.ts";
import { breakerRows } from "../model/circuits.ts";
import { errorDetails, type EndpointError } from "../model/errors.ts";
import { HELP_LINES } from "../model/help.ts";
import { cycleScreen, keyAction, type KeyInfo, type Move } from "../model/keys.ts";
import { bottomOffset, clampList, moveList, scrollView, TOP, type ListState } from "../model/list.ts";
import { includesFolded, parseRouteLine, routeMatches, routeRows } from "../model/routes.ts";
import { Footer, Header, HEADER_LINES } from "./Chrome.tsx";
import { SignIn } from "./SignIn.tsx";
import { APP_LINES, Apps, APPS_CHROME, type Pending } from "./screens/Apps.tsx";
import { Circuits, CIRCUITS_CHROME } from "./screens/Circuits.tsx";
import { Dashboard } from "./screens/Dashboard.tsx";
import { Errors, ERRORS_CHROME } from "./screens/Errors.tsx";
import { Routes, ROUTES_CHROME } from "./screens/Routes.tsx";
import { TEXT_CHROME, TextView } from "./screens/TextView.tsx";
import { Body } from "./widgets.tsx";

/** Screen numbers: the keys 1-7 minus one. */
const Screen = { Dashboard: 0, Routes: 1, Apps: 2, Circuits: 3, Errors: 4, Config: 5, Help: 6 } as const;
type Screen = (typeof Screen)[keyof typeof Screen];

const TOPICS: readonly (Topic | null)[] = [null, "routes", "apps", "breakers", null, "config", null];

type Overlay =
  | { kind: "search" }
  | { kind: "route"; index: number | null; rule: Rule | null }
  | { kind: "confirm"; prompt: string; yes: () => void }
  | { kind: "menu"; app: string; cursor: number }
  | { kind: "logs"; app: string; lines: string[]; offset: number; follow: boolean }
  | { kind: "details"; title: string; lines: string[]; raw: string; offset: number };

type Flash = { text: string; tone: "info" | "error" };

/** How the session ended: main prints `error` and exits with `code`. */
export interface Outcome {
  code: number;
  error?: string;
}

export function App({ feed, dev, outcome }: { feed: Feed; dev: boolean; outcome: Outcome }) {
  const state = useSyncExternalStore(
    (listener) => feed.subscribe(listener),
    () => feed.state,
  );
  const { exit } = useApp();
  const { columns: width, rows: height } = useWindowSize();
  const [screen, setScreen] = useState<Screen>(Screen.Dashboard);
  const [beforeHelp, setBeforeHelp] = useState<Screen>(Screen.Dashboard);
  const [lists, setLists] = useState<Partial<Record<Screen, ListState>>>({});
  const [queries, setQueries] = useState<Partial<Record<Screen, string>>>({});
  const [overlay, setOverlay] = useState<Overlay | null>(null);
  const [input, setInput] = useState({ value: "", error: "" });
  const [flash, setFlash] = useState<Flash | null>(null);
  const [pending, setPending] = useState<Record<string, Pending>>({});

  useEffect(() => feed.focus(TOPICS[screen] ?? null), [screen]);
  useEffect(() => {
    if (!flash) return;
    const timer = setTimeout(() => setFlash(null), 6000);
    return () => clearTimeout(timer);
  }, [flash]);

  // The log viewer re-reads the logs with every poll; following keeps the newest lines in view.
  const logsApp = overlay?.kind === "logs" ? overlay.app : null;
  useEffect(() => {
    if (logsApp === null) return;
    feed.appLogs(logsApp).then(
      (logs) => setOverlay((o) => (o?.kind === "logs" && o.app === logsApp ? { ...o, lines: logLines(logsApp, logs) } : o)),
      (err: Error) => setFlash({ text: `logs of ${logsApp}: ${err.message}`, tone: "error" }),
    );
  }, [logsApp, state.updatedAt]);

  const query = queries[screen] ?? "";
  const footerLines = overlay?.kind === "route" ? 3 : overlay?.kind === "menu" ? APP_MENU.length + 1 : 1;
  const bodyHeight = Math.max(1, height - HEADER_LINES - footerLines);
  const textVisible = bodyHeight - TEXT_CHROME;

  // What each list screen shows, filtered by its search.
  const routes = routeRows(state.routes ?? []).filter((r) => routeMatches(r, queries[Screen.Routes] ?? ""));
  const apps = appRows({ apps: state.apps, system: state.system, traffic: state.appTraffic, files: state.files }).filter((a) =>
    includesFolded(`${a.name} ${a.domain}`, queries[Screen.Apps] ?? ""),
  );
  const breakers = breakerRows(state.breakers).filter((b) => includesFolded(`${b.origin} ${b.state}`, queries[Screen.Circuits] ?? ""));
  const errors = [...state.errors].reverse().filter((e) => includesFolded(e.entry.raw, queries[Screen.Errors] ?? ""));
  const confLines = (state.confText ?? "")
    .replace(/\n$/, "")
    .split("\n")
    .map((text, i) => ({ n: i + 1, text }))
    .filter((l) => state.confText !== null && includesFolded(l.text, queries[Screen.Config] ?? ""));
  const helpLines = HELP_LINES.map((text) => ({ text }));

  const sizes: Record<Screen, { length: number; visible: number }> = {
    [Screen.Dashboard]: { length: 0, visible: 1 },
    [Screen.Routes]: { length: routes.length, visible: bodyHeight - ROUTES_CHROME },
    [Screen.Apps]: { length: apps.length, visible: Math.floor((bodyHeight - APPS_CHROME) / APP_LINES) },
    [Screen.Circuits]: { length: breakers.length, visible: bodyHeight - CIRCUITS_CHROME },
    [Screen.Errors]: { length: errors.length, visible: bodyHeight - ERRORS_CHROME },
    [Screen.Config]: { length: confLines.length, visible: textVisible },
    [Screen.Help]: { length: helpLines.length, visible: textVisible },
  };
  const listOf = (s: Screen) => clampList(lists[s] ?? TOP, sizes[s].length, sizes[s].visible);
  const list = listOf(screen);
  const isText = screen === Screen.Config || screen === Screen.Help;
  const textOffset = Math.min(list.offset, bottomOffset(sizes[screen].length, textVisible));

  const switchTo = (next: Screen) => {
    setOverlay(null);
    if (next === Screen.Help && screen !== Screen.Help) setBeforeHelp(screen);
    setScreen(next);
  };
  const moveOn = (move: Move) => {
    const { length, visible } = sizes[screen];
    const next = isText ? { cursor: 0, offset: scrollView(textOffset, move, length, visible) } : moveList(list, move, length, visible);
    setLists((all) => ({ ...all, [screen]: next }));
  };
  const setQuery = (value: string) => {
    setQueries((all) => ({ ...all, [screen]: value }));
    setLists((all) => ({ ...all, [screen]: TOP }));
  };
  const fail = (err: unknown) => setFlash({ text: (err as Error).message, tone: "error" });

  const runAppAction = (app: string, action: AppAction) => {
    setOverlay(null);
    if (pending[app]) return setFlash({ text: `${app}: ${pending[app]!.action} is still in progress`, tone: "error" });
    setPending((all) => ({ ...all, [app]: { action, since: Date.now() } }));
    feed
      .appAction(app, action)
      .then((answer) => setFlash({ text: `${app}: ${answer.message}${answer.slot ? ` (slot ${answer.slot})` : ""}`, tone: "info" }), fail)
      .finally(() =>
        setPending((all) => {
          const { [app]: _done, ...rest } = all;
          return rest;
        }),
      );
  };

  const submitRoute = (line: string) => {
    if (overlay?.kind !== "route") return;
    const parsed = parseRouteLine(line, overlay.rule);
    if (!parsed.ok) return setInput({ value: line, error: parsed.error });
    const write =
      overlay.index === null
        ? feed.addRoute(parsed.rule).then((a) => `Route added as #${a.index}`)
        : feed.updateRoute(overlay.index, parsed.rule).then(() => `Route #${overlay.index} updated`);
    write.then(
      (text) => {
        setOverlay(null);
        setFlash({ text, tone: "info" });
      },
      (err: Error) => setInput({ value: line, error: err.message }),
    );
  };

  const copy = (text: string) => {
    // OSC 52: the terminal (or tmux) puts the base64 payload on the clipboard.
    process.stdout.write(`\x1b]52;c;${Buffer.from(text).toString("base64")}\x07`);
    setFlash({ text: `copied ${text.length} characters to the clipboard (OSC 52)`, tone: "info" });
  };

  const onScreenKey = (key: string) => {
    const selectedRoute = routes[list.cursor];
    const selectedApp = apps[list.cursor];
    const selectedError: EndpointError | undefined = errors[list.cursor];
    switch (screen) {
      case Screen.Routes:
        if (key === "a") {
          setInput({ value: "", error: "" });
          return setOverlay({ kind: "route", index: null, rule: null });
        }
        if (key === "e" && selectedRoute) {
          setInput({ value: selectedRoute.line, error: "" });
          return setOverlay({ kind: "route", index: selectedRoute.index, rule: state.routes?.[selectedRoute.index] ?? null });
        }
        if (key === "d" && selectedRoute) {
          const index = selectedRoute.index;
          return setOverlay({
            kind: "confirm",
            prompt: `Delete route #${index}  ${selectedRoute.line}  ?`,
            yes: () => feed.deleteRoute(index).then(() => setFlash({ text: `Route #${index} deleted`, tone: "info" }), fail),
          });
        }
        return;
      case Screen.Apps:
        if (key === "enter" && selectedApp) return setOverlay({ kind: "menu", app: selectedApp.name, cursor: 0 });
        return;
      case Screen.Errors:
        if (key === "enter" && selectedError) {
          return setOverlay({
            kind: "details",
            title: `Request ${selectedError.reqId || ""} at ${selectedError.time}`,
            lines: errorDetails(selectedError),
            raw: selectedError.entry.raw,
            offset: 0,
          });
        }
        if (key === "c" && selectedError) return copy(selectedError.entry.raw);
        return;
    }
  };

  const onKey = (ch: string, key: KeyInfo) => {
    if (overlay?.kind === "search" || overlay?.kind === "route") {
      // The text field takes the keys; Esc leaves it (a search is cleared, a rule discarded).
      if (key.escape) {
        if (overlay.kind === "search") setQuery("");
        setOverlay(null);
      }
      return;
    }
    if (overlay?.kind === "confirm") {
      if (ch === "y" || ch === "Y") overlay.yes();
      if (ch === "y" || ch === "Y" || ch === "n" || ch === "N" || key.escape) setOverlay(null);
      return;
    }
    const action = keyAction(ch, key);
    if (!action) return;
    if (action.type === "quit") {
      outcome.code = 0;
      return exit();
    }
    if (overlay?.kind === "menu") {
      if (action.type === "move") {
        const cursor = moveList({ cursor: overlay.cursor, offset: 0 }, action.move, APP_MENU.length, APP_MENU.length).cursor;
        return setOverlay({ ...overlay, cursor });
      }
      if (action.type === "enter") {
        const choice = APP_MENU[overlay.cursor]!.action;
        if (choice === "logs") return setOverlay({ kind: "logs", app: overlay.app, lines: [], offset: 0, follow: true });
        if (choice === "stop")
          return setOverlay({ kind: "confirm", prompt: `Stop ${overlay.app} (both slots)?`, yes: () => runAppAction(overlay.app, "stop") });
        return runAppAction(overlay.app, choice);
      }
      if (action.type === "close") return setOverlay(null);
      return;
    }
    if (overlay?.kind === "logs" || overlay?.kind === "details") {
      if (action.type === "move") {
        const offset = scrollView(Math.min(overlay.offset, bottomOffset(overlay.lines.length, textVisible)), action.move, overlay.lines.length, textVisible);
        // Scrolling up stops following; G (bottom) resumes it.
        return setOverlay(overlay.kind === "logs" ? { ...overlay, offset, follow: action.move === "bottom" } : { ...overlay, offset });
      }
      if (action.type === "key" && action.key === "f" && overlay.kind === "logs") {
        // Following off freezes the view where it is (the newest lines), not at the top.
        const offset = overlay.follow ? bottomOffset(overlay.lines.length, textVisible) : overlay.offset;
        return setOverlay({ ...overlay, follow: !overlay.follow, offset });
      }
      if (action.type === "key" && action.key === "c" && overlay.kind === "details") return copy(overlay.raw);
      if (action.type === "close") return setOverlay(null);
      if (action.type === "refresh") return feed.refresh();
      if (action.type !== "screen" && action.type !== "next-screen" && action.type !== "prev-screen" && action.type !== "help") return;
    }
    switch (action.type) {
      case "screen":
        return switchTo(action.index as Screen);
      case "next-screen":
        return switchTo(cycleScreen(screen, 1) as Screen);
      case "prev-screen":
        return switchTo(cycleScreen(screen, -1) as Screen);
      case "help":
        return switchTo(Screen.Help);
      case "refresh":
        feed.refresh();
        return setFlash({ text: "refreshing…", tone: "info" });
      case "search":
        if (screen === Screen.Dashboard || screen === Screen.Help) return setFlash({ text: "nothing to search on this screen", tone: "info" });
        return setOverlay({ kind: "search" });
      case "close":
        if (query !== "") return setQuery("");
        if (screen === Screen.Help) return switchTo(beforeHelp);
        return setFlash(null);
      case "move":
        return moveOn(action.move);
      case "enter":
        if (screen === Screen.Routes) return onScreenKey("e");
        return onScreenKey("enter");
      case "key":
        return onScreenKey(action.key);
    }
  };

  // Keys typed faster than the screen redraws arrive as one chunk ("jjj"): they are queued and
  // handled one per render, each seeing the state the previous one left.
  const queued = useRef<string[]>([]);
  const [, kick] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    const next = queued.current.shift();
    if (next === undefined) return;
    onKey(next, {});
    kick();
  });
  useInput((ch, key) => {
    if (state.signIn) return; // the sign-in prompt owns the keyboard
    const textField = overlay?.kind === "search" || overlay?.kind === "route";
    if (!textField && ch.length > 1 && !key.ctrl && !key.meta && [...ch].every((c) => c >= " ")) {
      queued.current.push(...ch);
      return kick();
    }
    onKey(ch, key);
  });

  if (state.signIn) {
    return (
      <Box flexDirection="column" height={height}>
        <Header screen={screen} state={state} dev={dev} />
        <SignIn
          user={state.signIn.user}
          via={state.via}
          tryPassword={(password) => feed.signIn(password)}
          giveUp={() => {
            outcome.code = 1;
            outcome.error = "Authentication failed";
            exit();
          }}
        />
      </Box>
    );
  }

  let body;
  if (overlay?.kind === "logs") {
    const offset = overlay.follow ? bottomOffset(overlay.lines.length, textVisible) : Math.min(overlay.offset, bottomOffset(overlay.lines.length, textVisible));
    body = (
      <TextView
        title={`Logs of ${overlay.app}  (f follow: ${overlay.follow ? "on" : "off"}, Esc back)`}
        lines={overlay.lines.map((text) => ({ text }))}
        offset={offset}
        height={bodyHeight}
        empty="Loading…"
      />
    );
  } else if (overlay?.kind === "details") {
    body = (
      <TextView title={`${overlay.title}  (c copy, Esc back)`} lines={overlay.lines.map((text) => ({ text }))} offset={overlay.offset} height={bodyHeight} />
    );
  } else {
    switch (screen) {
      case Screen.Dashboard:
        body = <Dashboard state={state} width={width} height={bodyHeight} />;
        break;
      case Screen.Routes:
        body = <Routes rows={routes} list={list} width={width} height={bodyHeight} loaded={state.routes !== null} />;
        break;
      case Screen.Apps:
        body = <Apps rows={apps} list={list} width={width} height={bodyHeight} pending={pending} events={state.events} now={Date.now()} />;
        break;
      case Screen.Circuits:
        body = <Circuits rows={breakers} list={list} width={width} height={bodyHeight} loaded={state.breakers !== null} />;
        break;
      case Screen.Errors:
        body = <Errors rows={errors} list={list} width={width} height={bodyHeight} logFile={feed.places.logFile} exists={state.errorLogExists} />;
        break;
      case Screen.Config:
        body = (
          <TextView
            title={feed.places.confPath}
            lines={confLines}
            offset={textOffset}
            height={bodyHeight}
            numbered
            empty={state.confText === null ? "proxy.conf cannot be read" : "no line matches"}
          />
        );
        break;
      case Screen.Help:
        body = <TextView title="Help" lines={helpLines} offset={textOffset} height={bodyHeight} />;
        break;
    }
  }

  return (
    <Box flexDirection="column" width={width} height={height}>
      <Header screen={screen} state={state} dev={dev} />
      <Body height={bodyHeight}>{body}</Body>
      {overlay?.kind === "search" ? (
        <Box>
          <Text color="cyan"> / </Text>
          <TextInput value={query} onChange={setQuery} onSubmit={() => setOverlay(null)} />
        </Box>
      ) : overlay?.kind === "route" ? (
        <Box flexDirection="column" height={3}>
          <Text wrap="truncate" bold>
            {overlay.index === null ? " Add a rule" : ` Edit rule #${overlay.index}`}
            <Text color="gray"> (one line of proxy.conf: SOURCE -&gt; TARGETS [@lb:…] [@auth:user:hash]; Enter saves, Esc cancels)</Text>
          </Text>
          <Box>
            <Text color="cyan"> &gt; </Text>
            <TextInput value={input.value} onChange={(value) => setInput({ value, error: "" })} onSubmit={submitRoute} />
          </Box>
          <Text wrap="truncate" color="red">
            {input.error ? ` ${input.error}` : " "}
          </Text>
        </Box>
      ) : overlay?.kind === "confirm" ? (
        <Text wrap="truncate" color="yellow" bold>
          {` ${overlay.prompt} (y/n)`}
        </Text>
      ) : overlay?.kind === "menu" ? (
        <Box flexDirection="column">
          <Text bold>{` ${overlay.app}: choose an action (Enter, Esc cancels)`}</Text>
          {APP_MENU.map((item, i) => (
            <Text key={item.label} inverse={i === overlay.cursor}>
              {`${i === overlay.cursor ? " ▶ " : "   "}${item.label}`}
            </Text>
          ))}
        </Box>
      ) : (
        <Footer screen={screen} flash={flash} />
      )}
    </Box>
  );
}
