/** Circuits (SPEC §16.5 screen 4): one row per upstream origin's breaker. */
import type { BreakerRow } from "../../model/circuits.ts";
import { fit } from "../../model/format.ts";
import type { ListState } from "../../model/list.ts";
import { Body, Empty, Heading, Row } from "../widgets.tsx";

export const CIRCUITS_CHROME = 1;
const STATE_COLOR: Record<string, string> = { open: "red", half_open: "yellow", closed: "green" };

export function Circuits({ rows, list, width, height, loaded }: { rows: BreakerRow[]; list: ListState; width: number; height: number; loaded: boolean }) {
  const origin = Math.max(20, width - 42);
  const line = (o: string, s: string, f: string, ok: string) => `${fit(o, origin)} ${fit(s, 10)} ${f.padStart(10)} ${ok.padStart(10)}`;
  const visible = rows.slice(list.offset, list.offset + Math.max(0, height - CIRCUITS_CHROME));
  return (
    <Body height={height}>
      <Heading text={line("UPSTREAM", "STATE", "FAILURES", "SUCCESSES")} />
      {!loaded && <Empty>Breakers come from the running proxy; none answers.</Empty>}
      {loaded && rows.length === 0 && <Empty>No breaker yet: one appears with the first request to an upstream.</Empty>}
      {visible.map((r, i) => (
        <Row
          key={r.origin}
          selected={list.offset + i === list.cursor}
          color={STATE_COLOR[r.state]}
          text={line(r.origin, r.state, String(r.consecutive_failures), String(r.consecutive_successes))}
        />
      ))}
    </Body>
  );
}
