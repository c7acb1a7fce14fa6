/**
 * Slot ports (SPEC §14.6): `run/ports.lock`, a JSON object keyed by port string →
 * `{"app_name","slot","port","timestamp"}`, the format of the original Rust soli-proxy. An
 * (app, slot) keeps its port; a new one gets the first port of the app's range that is neither in
 * the file nor bindable-by-someone-else right now.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { writeFileAtomic } from "../lib/atomic-write.ts";
import type { Slot } from "./config.ts";

export interface PortEntry {
  app_name: string;
  slot: Slot;
  port: number;
  timestamp: string;
}

export class PortsLock {
  private entries = new Map<number, PortEntry>();

  constructor(readonly file: string) {}

  /** Reads the file; a missing or unreadable one is an empty table (the warning is returned). */
  load(): string | null {
    this.entries.clear();
    if (!existsSync(this.file)) return null;
    try {
      const raw = JSON.parse(readFileSync(this.file, "utf8")) as Record<string, PortEntry>;
      for (const entry of Object.values(raw)) {
        if (entry && typeof entry.port === "number" && typeof entry.app_name === "string" && (entry.slot === "blue" || entry.slot === "green")) {
          this.entries.set(entry.port, entry);
        }
      }
      return null;
    } catch (err) {
      return `${this.file} is not valid JSON (${(err as Error).message}); ports are allocated afresh`;
    }
  }

  portOf(app: string, slot: Slot): number | null {
    for (const entry of this.entries.values()) if (entry.app_name === app && entry.slot === slot) return entry.port;
    return null;
  }

  /** The (app, slot)'s port, allocating one in `range` if it has none. Throws when none is free. */
  allocate(app: string, slot: Slot, range: readonly [number, number]): number {
    const kept = this.portOf(app, slot);
    if (kept !== null) return kept;
    for (let port = range[0]; port <= range[1]; port++) {
      if (this.entries.has(port) || !canBind(port)) continue;
      this.entries.set(port, { app_name: app, slot, port, timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, "Z") });
      return port;
    }
    throw new Error(`No available ports found in range ${range[0]}-${range[1]}`);
  }

  /** Forgets every port of `app` (its directory is gone). Returns the ports released. */
  release(app: string): number[] {
    const released: number[] = [];
    for (const [port, entry] of this.entries) {
      if (entry.app_name === app) {
        this.entries.delete(port);
        released.push(port);
      }
    }
    return released;
  }

  save(): void {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const out: Record<string, PortEntry> = {};
    for (const port of [...this.entries.keys()].sort((a, b) => a - b)) out[String(port)] = this.entries.get(port)!;
    writeFileAtomic(this.file, JSON.stringify(out, null, 2) + "\n", 0o600);
  }
}

/** Whether nothing listens on 127.0.0.1:port: we can bind it ourselves (and let go at once). */
export function canBind(port: number): boolean {
  try {
    const listener = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
    listener.stop(true);
    return true;
  } catch {
    return false;
  }
}

/** Whether something accepts connections on 127.0.0.1:port. */
export function acceptsConnections(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (value: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(value);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(socket) {
          socket.end();
          finish(true);
        },
        data() {},
        connectError() {
          finish(false);
        },
        error() {
          finish(false);
        },
      },
    }).catch(() => finish(false));
  });
}
