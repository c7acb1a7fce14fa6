/** The frame around every screen: tabs and the connection line on top, hints or a message below. */
import { relative } from "node:path";
import { Box, Text } from "ink";
import type { FeedState } from "../data/feed.ts";
import * as fmt from "../model/format.ts";
import { SCREEN_TITLES } from "../model/help.ts";
import { BADGE_COLOR } from "./widgets.tsx";

export const HEADER_LINES = 2;

export function Header({ screen, state, dev }: { screen: number; state: FeedState; dev: boolean }) {
  const status = state.status;
  return (
    <Box flexDirection="column">
      <Text wrap="truncate">
        <Text bold color="magentaBright">
          {" soli-proxy "}
        </Text>
        {SCREEN_TITLES.map((title, i) => (
          <Text key={title} inverse={i === screen} bold={i === screen}>
            {` ${i + 1} ${title} `}
          </Text>
        ))}
      </Text>
      <Text wrap="truncate">
        {" "}
        <Text color={BADGE_COLOR[state.badge]} bold>
          ● {state.badge}
        </Text>
        {state.via && <Text color="gray"> via {shortPath(state.via)}</Text>}
        {status && state.badge === "OK" && (
          <Text>
            {"  "}v{status.version} up {fmt.uptime(status.uptime_secs)} config v{status.config_version}
          </Text>
        )}
        {dev && <Text color="yellow"> dev</Text>}
        {state.problem && <Text color={state.badge === "OK" ? "yellow" : "red"}>{`  ${state.problem}`}</Text>}
      </Text>
    </Box>
  );
}

/** A path under the working directory as a relative one (`run/control.sock`); anything else as is. */
function shortPath(where: string): string {
  if (!where.startsWith("/")) return where;
  const rel = relative(process.cwd(), where);
  return rel.startsWith("..") ? where : rel;
}

const HINTS: readonly string[] = [
  "1-7/Tab screens  r refresh  ? help  q quit",
  "a add  e/Enter edit  d delete  / search  j/k move  ? help  q quit",
  "Enter actions (deploy, restart, stop, rollback, logs)  / search  j/k move  ? help  q quit",
  "/ search  j/k move  r refresh  ? help  q quit",
  "Enter details  c copy line  / search  j/k move  g/G top/bottom  ? help  q quit",
  "j/k PgUp/PgDn g/G scroll  / search  ? help  q quit",
  "Esc back  q quit",
];

export function Footer({ screen, flash }: { screen: number; flash: { text: string; tone: "info" | "error" } | null }) {
  if (flash) {
    return (
      <Text wrap="truncate" color={flash.tone === "error" ? "red" : "green"}>
        {` ${flash.text}`}
      </Text>
    );
  }
  return (
    <Text wrap="truncate" color="gray">
      {` ${HINTS[screen] ?? ""}`}
    </Text>
  );
}
