/** Routes (SPEC §16.5 screen 2): the rules of proxy.conf, as the routes API lists them. */
import { fit } from "../../model/format.ts";
import type { ListState } from "../../model/list.ts";
import type { RouteRow } from "../../model/routes.ts";
import { Body, Empty, Heading, Row } from "../widgets.tsx";

export const ROUTES_CHROME = 1;

export function Routes({ rows, list, width, height, loaded }: { rows: RouteRow[]; list: ListState; width: number; height: number; loaded: boolean }) {
  const source = Math.min(32, Math.max(12, Math.floor(width * 0.25)));
  const lb = 12;
  const auth = 14;
  const targets = Math.max(10, width - 7 - source - lb - auth - 4);
  const line = (r: { index: string; source: string; targets: string; lb: string; auth: string }) =>
    `${r.index.padStart(3)}  ${fit(r.source, source)} ${fit(r.targets, targets)} ${fit(r.lb, lb)} ${fit(r.auth, auth)}`;
  const visible = rows.slice(list.offset, list.offset + Math.max(0, height - ROUTES_CHROME));
  return (
    <Body height={height}>
      <Heading text={line({ index: "#", source: "SOURCE", targets: "TARGETS", lb: "BALANCING", auth: "AUTH" })} />
      {!loaded && <Empty>Routes come from the running proxy; none answers.</Empty>}
      {loaded && rows.length === 0 && <Empty>No rules match. Press a to add one.</Empty>}
      {visible.map((r) => (
        <Row key={r.index} selected={r.index === rows[list.cursor]?.index} text={line({ ...r, index: String(r.index) })} />
      ))}
    </Body>
  );
}
