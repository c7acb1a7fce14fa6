/**
 * Apps (SPEC §16.5 screen 3): per app its status, both slots with port, PID, CPU and RSS, the
 * request rate with a 60-sample history, and the progress of an action in flight.
 */
import { Box, Text } from "ink";
import type { AppEvent } from "../../data/api-types.ts";
import { describePhase, runningPhases, SLOTS, type AppRow } from "../../model/apps.ts";
import { clock } from "../../model/errors.ts";
import * as fmt from "../../model/format.ts";
import type { ListState } from "../../model/list.ts";
import { sparkline } from "../../model/traffic.ts";
import { Body, Empty, SLOT_COLOR, Spinner, STATUS_COLOR } from "../widgets.tsx";

export const APP_LINES = 3;
export const EVENT_LINES = 4;
export const APPS_CHROME = EVENT_LINES + 1;

export interface Pending {
  action: string;
  since: number;
}

export function Apps(props: {
  rows: AppRow[];
  list: ListState;
  width: number;
  height: number;
  pending: Readonly<Record<string, Pending>>;
  events: readonly { at: number; event: AppEvent }[];
  now: number;
}) {
  const { rows, list, width, height, pending, events, now } = props;
  // A deploy in progress shows its phase on its row (SPEC §14.7); health probes are too many for the list.
  const phases = runningPhases(events);
  const recent = events.filter(({ event }) => event.type !== "Progress" || event.phase !== "health");
  const fits = Math.max(0, Math.floor((height - APPS_CHROME) / APP_LINES));
  const visible = rows.slice(list.offset, list.offset + fits);
  const fromFiles = rows.length > 0 && rows[0]!.source === "files";
  return (
    <Body height={height}>
      <Text bold wrap="truncate">
        {fromFiles ? (
          <Text color="yellow">No proxy answers: slots as run/app_state.json last recorded them. Actions need a running proxy.</Text>
        ) : (
          "APP / SLOTS"
        )}
      </Text>
      <Box flexDirection="column" height={Math.max(0, height - APPS_CHROME)}>
        {rows.length === 0 && <Empty>No apps: none in the sites directory or the proxy.</Empty>}
        {visible.map((app, i) => (
          <AppItem
            key={app.name}
            app={app}
            selected={list.offset + i === list.cursor}
            width={width}
            pending={pending[app.name]}
            phase={phases[app.name]}
            now={now}
          />
        ))}
      </Box>
      <Text bold>Recent app events</Text>
      {events.length === 0 && <Empty>none yet</Empty>}
      {recent.slice(-(EVENT_LINES - 1)).map(({ at, event }, i) => (
        <Text key={i} color="gray" wrap="truncate">
          {clock(new Date(at).toISOString())} {describeEvent(event)}
        </Text>
      ))}
    </Body>
  );
}

function AppItem({
  app,
  selected,
  width,
  pending,
  phase,
  now,
}: {
  app: AppRow;
  selected: boolean;
  width: number;
  pending?: Pending;
  phase?: string | undefined;
  now: number;
}) {
  // While a deploy runs its phase is what matters: the sparkline gives up its room, or the phase
  // (right of it) would be cut off at any usual terminal width.
  const busy = pending !== undefined || phase !== undefined;
  const sparkWidth = Math.max(10, Math.min(60, width - 80));
  return (
    <Box flexDirection="column">
      <Text wrap="truncate">
        <Text inverse={selected} bold>
          {selected ? "▶ " : "  "}
          {app.name}
        </Text>
        {"  "}
        <Text color={STATUS_COLOR[app.status]}>{app.status}</Text>
        {"  serving "}
        <Text color={SLOT_COLOR[app.currentSlot]} bold>
          {app.currentSlot}
        </Text>
        {"  "}
        {fmt.rate(app.reqPerSec)} req/s
        {!busy && <Text color="cyan"> {sparkline(app.history, sparkWidth)}</Text>}
        {pending && (
          <Text>
            {"  "}
            <Spinner />{" "}
            <Text color="cyan">
              {pending.action} in progress {Math.floor((now - pending.since) / 1000)}s
            </Text>
          </Text>
        )}
        {phase && (
          <Text>
            {"  "}
            {!pending && <Spinner />} <Text color="cyan">{phase}</Text>
          </Text>
        )}
      </Text>
      {app.configError?.split("\n").map((line) => (
        <Text key={line} color="red" wrap="truncate">
          {"    "}
          {line} (running on its last good settings)
        </Text>
      ))}
      {SLOTS.map((slot) => {
        const s = app.slots[slot];
        return (
          <Text key={slot} wrap="truncate">
            {"    "}
            <Text color={SLOT_COLOR[slot]}>{slot.padEnd(6)}</Text>
            {` port ${String(s.port ?? fmt.UNKNOWN).padEnd(6)} pid ${String(s.pid ?? fmt.UNKNOWN).padEnd(8)} `}
            <Text color={STATUS_COLOR[s.status]}>{s.status.padEnd(10)}</Text>
            {` cpu ${s.cpuPercent === null ? fmt.UNKNOWN : `${s.cpuPercent.toFixed(1)}%`}`.padEnd(12)}
            {` rss ${fmt.bytes(s.rssBytes)}`.padEnd(16)}
            {slot === app.currentSlot ? <Text color="gray"> ◀ current</Text> : ""}
          </Text>
        );
      })}
    </Box>
  );
}

export function describeEvent(event: AppEvent): string {
  switch (event.type) {
    case "StatusChanged":
      return `${event.app_name} ${event.slot}: ${event.status}`;
    case "Deployed":
      return `${event.app_name} deployed to ${event.slot}`;
    case "Stopped":
      return `${event.app_name} stopped (${event.slot})`;
    case "Restarted":
      return `${event.app_name} restarted`;
    case "Progress":
      return `${event.app_name} ${describePhase(event)}`;
    default:
      return JSON.stringify(event);
  }
}
