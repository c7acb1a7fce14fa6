import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../src/lib/log.ts";
import { clock, endpointErrors, errorDetails, parseLogLine } from "../../src/tui/model/errors.ts";

/** Endpoint lines written by the real logger (SPEC §9) in one format. */
function logLines(format: "json" | "text"): string[] {
  const dir = mkdtempSync(join(tmpdir(), "soli-tui-log-"));
  try {
    const file = join(dir, "proxy.log");
    const log = createLogger({ level: "info", format, output: `file:${file}` });
    const base = { layer: "endpoint", method: "GET", scheme: "http", host: "shop.test", elapsed_ms: 3, client_ip: "127.0.0.1", bytes: 0 };
    log.info({ ...base, req_id: "a1", path: "/ok", status: 200, upstream: "http://127.0.0.1:7000", route: "default" }, "endpoint request");
    log.info({ ...base, req_id: "a2", path: "/down", status: 502, upstream: "http://127.0.0.1:1", route: "/down" }, "endpoint request");
    log.info({ ...base, req_id: "a3", path: "/boom", error: "handler threw: bad thing", upstream: null, route: "none" }, "endpoint request failed");
    log.info({ ...base, req_id: "a4", path: "/missing", status: 404, upstream: null, route: "none" }, "endpoint request");
    log.warn({ status: 500, err: { message: "a b" } }, "something else with status 500");
    log.info({ ...base, req_id: "a5", path: "/slow", status: 504, upstream: "http://10.0.0.1:80", route: "/slow/*" }, "endpoint request");
    return readFileSync(file, "utf8").split("\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const summary = (e: ReturnType<typeof endpointErrors>[number]) => [
  e.reqId,
  e.status,
  e.error,
  e.method,
  `${e.host}${e.path}`,
  e.upstream,
  e.route,
  e.elapsedMs,
];

describe("the Errors screen reads endpoint log lines (SPEC §9, §16.5)", () => {
  for (const format of ["json", "text"] as const) {
    test(`keeps 5xx and failed requests of ${format} lines, and nothing else`, () => {
      const errors = endpointErrors(logLines(format));
      expect(errors.map(summary)).toEqual([
        ["a2", 502, null, "GET", "shop.test/down", "http://127.0.0.1:1", "/down", 3],
        ["a3", null, "handler threw: bad thing", "GET", "shop.test/boom", null, "none", 3],
        ["a5", 504, null, "GET", "shop.test/slow", "http://10.0.0.1:80", "/slow/*", 3],
      ]);
    });
  }

  test("text values in JSON form (quoted strings with spaces, objects) are decoded", () => {
    const entry = parseLogLine('2025-01-02T03:04:05.678Z WARN disk is slow path="/a b" err={"message":"x y","code":1} n=3 ok=true word=plain');
    expect(entry && { time: entry.time, level: entry.level, msg: entry.msg, fields: entry.fields }).toEqual({
      time: "2025-01-02T03:04:05.678Z",
      level: "warn",
      msg: "disk is slow",
      fields: { path: "/a b", err: { message: "x y", code: 1 }, n: 3, ok: true, word: "plain" },
    });
  });

  test("lines that are neither format are skipped; details list every field", () => {
    const [first] = endpointErrors(logLines("json"));
    expect({
      junk: [parseLogLine(""), parseLogLine("{not json"), parseLogLine("plain words")],
      clock: [clock("2025-01-02T03:04:05.678Z"), clock("yesterday")],
      details: errorDetails(first!).slice(0, 4),
    }).toEqual({
      junk: [null, null, null],
      clock: ["03:04:05", "yesterday"],
      details: [`time: ${first!.entry.time}`, "level: info", "msg: endpoint request", "layer: endpoint"],
    });
  });
});
