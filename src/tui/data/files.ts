/**
 * What the TUI reads from disk each tick (SPEC §16.5): run/app_state.json, run/ports.lock, the
 * sites directory, proxy.conf, and the endpoint log, read incrementally. Missing files are empty
 * answers, never errors: a proxy that never ran has none of them.
 */
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { readAppState } from "../../apps/state-files.ts";
import { endpointErrors, type EndpointError } from "../model/errors.ts";
import type { AppFiles } from "../model/apps.ts";
import type { SlotName } from "./api-types.ts";

export function readAppFiles(places: { appStateFile: string; portsLockFile: string; sitesDir: string }): AppFiles {
  return { state: readAppState(places.appStateFile), ports: readPorts(places.portsLockFile), sites: siteApps(places.sitesDir) };
}

function readPorts(file: string): AppFiles["ports"] {
  try {
    const raw = JSON.parse(readFileSync(file, "utf8")) as Record<string, { app_name?: unknown; slot?: unknown; port?: unknown }>;
    return Object.values(raw)
      .filter((e) => e && typeof e.app_name === "string" && typeof e.port === "number" && (e.slot === "blue" || e.slot === "green"))
      .map((e) => ({ app_name: e.app_name as string, slot: e.slot as SlotName, port: e.port as number }));
  } catch {
    return [];
  }
}

/** App names in the sites directory: entries named like SPEC §14.1 says, named by app.infos `name` if set. */
function siteApps(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const names: string[] = [];
  for (const entry of entries.sort()) {
    if (entry.startsWith(".") || (!entry.includes(".") && !entry.startsWith("_"))) continue;
    const path = join(dir, entry);
    try {
      if (!statSync(path).isDirectory()) continue;
    } catch {
      continue;
    }
    names.push(infosName(join(path, "app.infos")) ?? entry);
  }
  return names;
}

function infosName(file: string): string | null {
  if (!existsSync(file)) return null;
  try {
    const name = (parseToml(readFileSync(file, "utf8")) as { name?: unknown }).name;
    return typeof name === "string" ? name : null;
  } catch {
    return null;
  }
}

export function readText(file: string): string | null {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return null;
  }
}

/** How much of an existing log the first read looks at, and the most one later read takes. */
const FIRST_READ_BYTES = 1024 * 1024;
const MAX_READ_BYTES = 4 * 1024 * 1024;

/**
 * The failed endpoint requests of a growing log file, read incrementally: each call reads only
 * what was appended since the last one. A file that shrank or was replaced (rotation) is read
 * again from its start; the errors already found stay.
 */
export class ErrorLogTail {
  private offset = -1;
  private inode = -1;
  /** Bytes after the last newline: a line still being written. */
  private partial = "";
  private found: EndpointError[] = [];

  constructor(
    readonly file: string,
    private readonly keep = 500,
  ) {}

  /** The newest `keep` errors, oldest first; `exists` is false while there is no log file. */
  read(): { errors: EndpointError[]; exists: boolean } {
    let fd: number;
    try {
      fd = openSync(this.file, "r");
    } catch {
      return { errors: this.found, exists: false };
    }
    try {
      const { size, ino } = fstatSync(fd);
      let start = this.offset;
      if (start < 0 || ino !== this.inode || size < start) {
        start = this.offset < 0 ? Math.max(0, size - FIRST_READ_BYTES) : 0;
        this.partial = "";
      }
      if (size - start > MAX_READ_BYTES) {
        start = size - MAX_READ_BYTES;
        this.partial = "";
      }
      // Starting inside the file, the first line is probably cut: it is skipped.
      const skipFirst = start > 0 && start !== this.offset;
      this.inode = ino;
      if (size > start) {
        const buffer = Buffer.alloc(size - start);
        const n = readSync(fd, buffer, 0, buffer.length, start);
        this.offset = start + n;
        const text = this.partial + buffer.subarray(0, n).toString("utf8");
        const lines = text.split("\n");
        this.partial = lines.pop() ?? "";
        if (skipFirst) lines.shift();
        const fresh = endpointErrors(lines);
        if (fresh.length > 0) this.found = [...this.found, ...fresh].slice(-this.keep);
      } else this.offset = start;
      return { errors: this.found, exists: true };
    } finally {
      closeSync(fd);
    }
  }
}
