/** Small drawing pieces shared by the screens: colours, a spinner, a window of rows. */
import { Box, Text, useAnimation } from "ink";
import type { ReactNode } from "react";
import type { Badge } from "../data/feed.ts";

export const BADGE_COLOR: Record<Badge, string> = {
  Connecting: "yellow",
  OK: "green",
  Unreachable: "red",
  Unauthorized: "red",
  Disabled: "gray",
};

export const STATUS_COLOR: Record<string, string> = {
  Running: "green",
  Starting: "yellow",
  Unhealthy: "yellow",
  Failed: "red",
  Stopped: "gray",
};

export const SLOT_COLOR: Record<string, string> = { blue: "blueBright", green: "greenBright" };

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/** Animates only while mounted; the shared Ink timer stops with the last spinner. */
export function Spinner() {
  const { frame } = useAnimation({ interval: 120 });
  return <Text color="cyan">{FRAMES[frame % FRAMES.length]}</Text>;
}

/** A fixed-height body: the children, then blank space so the footer stays at the bottom. */
export function Body({ height, children }: { height: number; children: ReactNode }) {
  return (
    <Box flexDirection="column" height={Math.max(0, height)} overflow="hidden">
      {children}
    </Box>
  );
}

/** One table line that never wraps; the selected one is marked and drawn inverted. */
export function Row({ text, selected = false, color, dim = false }: { text: string; selected?: boolean; color?: string; dim?: boolean }) {
  return (
    <Text wrap="truncate" inverse={selected} color={color} dimColor={dim}>
      {selected ? "▶ " : "  "}
      {text}
    </Text>
  );
}

/** A table's column titles, aligned with its Rows. */
export function Heading({ text }: { text: string }) {
  return (
    <Text bold wrap="truncate">
      {"  "}
      {text}
    </Text>
  );
}

/** A grey line saying why a screen is empty. */
export function Empty({ children }: { children: ReactNode }) {
  return (
    <Text color="gray" wrap="truncate">
      {children}
    </Text>
  );
}
