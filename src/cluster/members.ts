/**
 * Membership (SPEC §17.1): every `heartbeat_secs` each node writes its record under
 * `<cluster>:member:<node_id>` with a TTL of 3 heartbeats and its last_seen in the sorted set
 * `<cluster>:members`. A node whose record expired, or whose last_seen is older than 3 heartbeats,
 * is listed as gone; gone nodes leave the list after an hour.
 *
 * A node_id held by another live process (its record names a different `instance`) is a duplicate:
 * this node refuses to join, says so, and tries again each heartbeat (SPEC §4 `cluster.node_id`).
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { Logger } from "../lib/log.ts";
import type { RedisLink } from "./redis.ts";

/** A record larger than this is not a member record (SPEC §17.7: size caps on what Redis holds). */
const MAX_RECORD_BYTES = 16 * 1024;
const FORGET_GONE_AFTER_MS = 3_600_000;

const recordSchema = z.object({
  node_id: z.string().max(128),
  instance: z.string().max(64),
  version: z.string().max(64),
  config_version: z.number().int().min(0),
  config_sha256: z.string().max(64),
  started: z.number().int().min(0),
  last_seen: z.number().int().min(0),
  requests_per_second: z.number().min(0),
  last_reload_error: z.string().max(8192).nullable(),
});

export type MemberRecord = z.output<typeof recordSchema>;

export interface MemberView extends Omit<MemberRecord, "instance" | "started" | "last_seen"> {
  started: string;
  last_seen: string;
  gone: boolean;
}

/** What this node says about itself at each heartbeat. */
export interface SelfReport {
  version: string;
  config_version: number;
  config_sha256: string;
  requests_per_second: number;
  last_reload_error: string | null;
}

export class Membership {
  readonly instance = randomUUID();
  private readonly startedAt = Date.now();
  private timer: ReturnType<typeof setInterval> | null = null;
  private joined = false;
  private duplicateSaid = false;
  /** Members as last read, for the gauge (SPEC §17.1 proxy_cluster_members). */
  private liveCount = 0;

  constructor(
    private readonly redis: RedisLink,
    private readonly opts: { cluster: string; nodeId: string; heartbeatMs: number; report: () => SelfReport; log: () => Logger },
  ) {}

  get members(): number {
    return this.liveCount;
  }

  /** True once this node's record is written under its node_id (no duplicate in the way). */
  get isJoined(): boolean {
    return this.joined;
  }

  start(): void {
    void this.beat();
    this.timer = setInterval(() => void this.beat(), this.opts.heartbeatMs);
  }

  /** Stops beating and removes the record, so the others see this node gone at once. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (!this.joined || !this.redis.up) return;
    await this.redis.send("DEL", [this.key(this.opts.nodeId)]).catch(() => undefined);
  }

  /** Writes this node's record; public so a reconnect or a config change shows at once. */
  async beat(): Promise<void> {
    if (!this.redis.up) return;
    const { cluster, nodeId, heartbeatMs } = this.opts;
    const now = Date.now();
    const record: MemberRecord = { node_id: nodeId, instance: this.instance, started: this.startedAt, last_seen: now, ...this.opts.report() };
    const key = this.key(nodeId);
    try {
      // Joining is SET NX, so two nodes starting at once with the same node_id cannot both join;
      // after that each beat checks the record is still ours. An unreadable record is overwritten.
      const claimed = !this.joined && (await this.redis.send("SET", [key, JSON.stringify(record), "NX", "PX", String(3 * heartbeatMs)])) === "OK";
      const held = claimed ? null : parseRecord(await this.redis.send("GET", [key]));
      if (held !== null && held.instance !== this.instance) {
        this.joined = false;
        if (!this.duplicateSaid) {
          this.duplicateSaid = true;
          this.opts
            .log()
            .error(
              { node_id: nodeId },
              `cluster: node_id '${nodeId}' is already used by a live node; not joining (set a unique [cluster] node_id); retrying every heartbeat`,
            );
        }
        return;
      }
      await this.redis.send("SET", [key, JSON.stringify(record), "PX", String(3 * heartbeatMs)]);
      await this.redis.send("ZADD", [`${cluster}:members`, String(now), nodeId]);
      if (!this.joined) this.opts.log().info({ node_id: nodeId }, "cluster: joined");
      this.joined = true;
      this.duplicateSaid = false;
      await this.list(); // refreshes the member gauge
    } catch {
      // The link reports the outage once; the next heartbeat tries again.
    }
  }

  /** Every member known in the last hour, gone or not (GET /api/v1/cluster). */
  async list(): Promise<MemberView[]> {
    const { cluster, heartbeatMs } = this.opts;
    const now = Date.now();
    const raw = await this.redis.send("ZRANGE", [`${cluster}:members`, "0", "-1", "WITHSCORES"]);
    if (!Array.isArray(raw)) return [];
    // RESP3 answers [[member, score], …]; RESP2 a flat [member, score, …].
    const flat: unknown[] = raw.flat();
    const entries: { id: string; seen: number }[] = [];
    for (let i = 0; i + 1 < flat.length && entries.length < 1000; i += 2) {
      const id = String(flat[i]);
      const seen = Number(flat[i + 1]);
      if (!/^[A-Za-z0-9._-]{1,128}$/.test(id) || !Number.isFinite(seen)) continue;
      if (now - seen > FORGET_GONE_AFTER_MS) {
        void this.redis.send("ZREM", [`${cluster}:members`, id]).catch(() => undefined);
        continue;
      }
      entries.push({ id, seen });
    }
    if (entries.length === 0) return [];
    const records = await this.redis.send(
      "MGET",
      entries.map((e) => this.key(e.id)),
    );
    const list = entries.map((e, i) => {
      const record = Array.isArray(records) ? parseRecord(records[i]) : null;
      const lastSeen = record?.last_seen ?? e.seen;
      const gone = record === null || record.node_id !== e.id || now - lastSeen > 3 * heartbeatMs;
      return {
        node_id: e.id,
        version: record?.version ?? "",
        config_version: record?.config_version ?? 0,
        config_sha256: record?.config_sha256 ?? "",
        started: new Date(record?.started ?? 0).toISOString(),
        last_seen: new Date(lastSeen).toISOString(),
        gone,
        requests_per_second: record?.requests_per_second ?? 0,
        last_reload_error: record?.last_reload_error ?? null,
      };
    });
    this.liveCount = list.filter((m) => !m.gone).length;
    return list;
  }

  private key(nodeId: string): string {
    return `${this.opts.cluster}:member:${nodeId}`;
  }
}

/** A member record from Redis, or null when absent or not a valid record. */
export function parseRecord(value: unknown): MemberRecord | null {
  if (typeof value !== "string" || value.length > MAX_RECORD_BYTES) return null;
  try {
    const parsed = recordSchema.safeParse(JSON.parse(value));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
