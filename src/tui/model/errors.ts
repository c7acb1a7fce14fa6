/**
 * The Errors screen's reading of the proxy log (SPEC §9, §16.5): endpoint lines, JSON or
 * `time LEVEL msg key=value…` text, with a status ≥ 500 or `endpoint request failed`.
 */

export interface LogEntry {
  time: string;
  level: string;
  msg: string;
  /** Every other field of the line. */
  fields: Record<string, unknown>;
  raw: string;
}

/** One log line in either format, or null for a line that is neither. */
export function parseLogLine(line: string): LogEntry | null {
  const raw = line.trim();
  if (raw === "") return null;
  if (raw.startsWith("{")) {
    try {
      const { time, level, msg, ...fields } = JSON.parse(raw) as Record<string, unknown>;
      return { time: String(time ?? ""), level: String(level ?? ""), msg: String(msg ?? ""), fields, raw };
    } catch {
      return null;
    }
  }
  return parseTextLine(raw);
}

/** `time LEVEL: msg key=value…` as written by src/lib/log.ts (the colon optional); values are bare words or JSON. */
function parseTextLine(raw: string): LogEntry | null {
  const m = /^(\S+) ([A-Z]+):? (.*)$/.exec(raw);
  if (!m) return null;
  const [, time, level, rest] = m as unknown as [string, string, string, string];
  const firstField = /(?:^|\s)[A-Za-z_][A-Za-z0-9_]*=/.exec(rest);
  const msg = (firstField ? rest.slice(0, firstField.index) : rest).trim();
  const fields: Record<string, unknown> = {};
  let i = firstField ? firstField.index : rest.length;
  while (i < rest.length) {
    while (rest[i] === " ") i++;
    const key = /^[A-Za-z_][A-Za-z0-9_]*(?==)/.exec(rest.slice(i))?.[0];
    if (!key) break;
    i += key.length + 1;
    const end = valueEnd(rest, i);
    fields[key] = decodeValue(rest.slice(i, end));
    i = end;
  }
  return { time, level: level.toLowerCase(), msg, fields, raw };
}

/** Where a value starting at `start` ends: a JSON string, object or array, else the next space. */
function valueEnd(text: string, start: number): number {
  const open = text[start];
  if (open !== '"' && open !== "{" && open !== "[") {
    const space = text.indexOf(" ", start);
    return space < 0 ? text.length : space;
  }
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') {
        inString = false;
        if (depth === 0) return i + 1;
      }
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return text.length;
}

function decodeValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export interface EndpointError {
  time: string;
  /** The status sent, or null when handling threw (`endpoint request failed`). */
  status: number | null;
  error: string | null;
  method: string;
  host: string;
  path: string;
  upstream: string | null;
  route: string;
  elapsedMs: number | null;
  clientIp: string;
  reqId: string;
  entry: LogEntry;
}

/** The entry as an Errors-screen row when it is a failed endpoint request, else null. */
export function endpointError(entry: LogEntry): EndpointError | null {
  if (entry.fields.layer !== "endpoint" && !entry.msg.startsWith("endpoint request")) return null;
  const failed = entry.msg === "endpoint request failed";
  const status = typeof entry.fields.status === "number" ? entry.fields.status : Number(entry.fields.status);
  if (!failed && !(status >= 500)) return null;
  const text = (key: string) => (entry.fields[key] === undefined || entry.fields[key] === null ? "" : String(entry.fields[key]));
  return {
    time: entry.time,
    status: Number.isFinite(status) ? status : null,
    error: failed ? text("error") || "request failed" : null,
    method: text("method"),
    host: text("host"),
    path: text("path"),
    upstream: entry.fields.upstream === null || entry.fields.upstream === undefined ? null : String(entry.fields.upstream),
    route: text("route"),
    elapsedMs: typeof entry.fields.elapsed_ms === "number" ? entry.fields.elapsed_ms : null,
    clientIp: text("client_ip"),
    reqId: text("req_id"),
    entry,
  };
}

/** The failed endpoint requests among `lines`, in file order. */
export function endpointErrors(lines: Iterable<string>): EndpointError[] {
  const out: EndpointError[] = [];
  for (const line of lines) {
    // Cheap pre-filter: most lines of a busy log are successful requests.
    if (!line.includes("endpoint")) continue;
    const entry = parseLogLine(line);
    const error = entry && endpointError(entry);
    if (error) out.push(error);
  }
  return out;
}

/** `HH:MM:SS` of an ISO time (UTC as logged), or the text as given. */
export function clock(time: string): string {
  const m = /T(\d\d:\d\d:\d\d)/.exec(time);
  return m ? m[1]! : time;
}

/** The detail view: every field of the line, one `key: value` per line, time and message first. */
export function errorDetails(e: EndpointError): string[] {
  const lines = [`time: ${e.entry.time}`, `level: ${e.entry.level}`, `msg: ${e.entry.msg}`];
  for (const [key, value] of Object.entries(e.entry.fields)) lines.push(`${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`);
  return lines;
}
