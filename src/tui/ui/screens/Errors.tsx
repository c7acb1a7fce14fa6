/** Errors (SPEC §16.5 screen 5): endpoint log lines with a 5xx or a failure, newest first. */
import { clock, type EndpointError } from "../../model/errors.ts";
import { fit } from "../../model/format.ts";
import type { ListState } from "../../model/list.ts";
import { Body, Empty, Heading, Row } from "../widgets.tsx";

export const ERRORS_CHROME = 1;

export function Errors({
  rows,
  list,
  width,
  height,
  logFile,
  exists,
}: {
  rows: EndpointError[];
  list: ListState;
  width: number;
  height: number;
  logFile: string;
  exists: boolean;
}) {
  const request = Math.max(20, Math.floor((width - 30) * 0.5));
  const line = (time: string, status: string, method: string, target: string, ms: string, detail: string) =>
    `${fit(time, 8)} ${fit(status, 6)} ${fit(method, 7)} ${fit(target, request)} ${ms.padStart(7)}  ${detail}`;
  const visible = rows.slice(list.offset, list.offset + Math.max(0, height - ERRORS_CHROME));
  return (
    <Body height={height}>
      <Heading text={line("TIME", "STATUS", "METHOD", "REQUEST", "MS", "UPSTREAM / ERROR")} />
      {!exists && <Empty>No log at {logFile} (the daemon's log, or [logging] output = "file:…").</Empty>}
      {exists && rows.length === 0 && <Empty>No failed requests in {logFile}. Endpoint lines need [logging] log_endpoints = true.</Empty>}
      {visible.map((e, i) => (
        <Row
          key={`${list.offset + i}`}
          selected={list.offset + i === list.cursor}
          color={e.status === null ? "magenta" : "red"}
          text={line(
            clock(e.time),
            e.status === null ? "failed" : String(e.status),
            e.method,
            `${e.host}${e.path}`,
            e.elapsedMs === null ? "" : String(e.elapsedMs),
            e.error ?? e.upstream ?? "",
          )}
        />
      ))}
    </Body>
  );
}
