/** A scrollable text (Config, Help, log viewer, error details): a title line and a window of lines. */
import { Text } from "ink";
import { Body, Empty } from "../widgets.tsx";

export const TEXT_CHROME = 1;

export function TextView({
  title,
  lines,
  offset,
  height,
  empty,
  numbered = false,
}: {
  title: string;
  lines: readonly { n?: number; text: string }[];
  offset: number;
  height: number;
  empty?: string;
  numbered?: boolean;
}) {
  const visible = lines.slice(offset, offset + Math.max(0, height - TEXT_CHROME));
  const last = Math.min(lines.length, offset + visible.length);
  return (
    <Body height={height}>
      <Text bold wrap="truncate">
        {title}
        <Text color="gray">
          {"  "}
          {lines.length > 0 ? `lines ${offset + 1}-${last} of ${lines.length}` : ""}
        </Text>
      </Text>
      {lines.length === 0 && empty && <Empty>{empty}</Empty>}
      {visible.map((l, i) => (
        <Text key={offset + i} wrap="truncate">
          {numbered && <Text color="gray">{String(l.n ?? offset + i + 1).padStart(4)} </Text>}
          {l.text === "" ? " " : l.text}
        </Text>
      ))}
    </Body>
  );
}
