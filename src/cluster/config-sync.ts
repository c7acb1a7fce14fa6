/**
 * Configuration across nodes (SPEC §17.4). proxy.conf only: config.toml holds each node's own
 * listeners, certificate store and secrets and is never shared.
 *
 * Redis holds the newest published configuration in the hash `<cluster>:config` {version, text,
 * sha256, node_id, at}, its version from `INCR <cluster>:config:version`, both set by one script so
 * two nodes publishing at once get distinct versions and the hash is the higher one's. Nodes poll
 * the version every second (cheaper and simpler to keep right across reconnects than a subscriber
 * connection) and apply a newer one through the same door as an admin write: written atomically to
 * their own proxy.conf, validated like `check`, reloaded; a refused one puts the old file back and
 * is reported in the member record.
 *
 * Nothing applied while Redis is down is lost (SPEC §17.6): a local change waits as `pending` with
 * the time it was made and is published on reconnect unless the cluster has a newer one. At start
 * the file itself is pending, dated by its mtime, so a node that joins with an older file takes the
 * cluster's and the first node of a new cluster publishes its own.
 */
import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import type { ReloadResult } from "../config/issues.ts";
import { formatIssue } from "../config/issues.ts";
import type { Logger } from "../lib/log.ts";
import type { RedisLink } from "./redis.ts";

/** A published proxy.conf larger than this is refused (the admin API caps bodies at 1 MiB too). */
export const MAX_CONF_BYTES = 1024 * 1024;
const POLL_MS = 1_000;

const PUBLISH_SCRIPT = `
local at = tonumber(redis.call('HGET', KEYS[2], 'at'))
if at ~= nil and at > tonumber(ARGV[4]) then return 0 end
local v = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], 'version', v, 'text', ARGV[1], 'sha256', ARGV[2], 'node_id', ARGV[3], 'at', ARGV[4])
return v
`;

export interface Published {
  version: number;
  text: string;
  sha256: string;
  nodeId: string;
  /** When it was applied where it came from, ms since the epoch. */
  at: number;
}

export interface ConfigSyncDeps {
  redis: RedisLink;
  cluster: string;
  nodeId: string;
  confPath: string;
  /** The proxy.conf text now applied. */
  appliedText: () => string;
  /** Writes `text` as proxy.conf and reloads; restores the previous file when rejected. */
  apply: (text: string) => Promise<ReloadResult>;
  /**
   * Whether this node is a member (its node_id claimed). A node refused as a duplicate keeps its
   * own proxy.conf: it neither takes the cluster's nor publishes its own over the real node's.
   */
  member: () => boolean;
  log: () => Logger;
}

export class ConfigSync {
  /** The cluster version this node's configuration corresponds to (member record config_version). */
  version = 0;
  /** Why the last configuration from the cluster was refused here, or null. */
  refused: string | null = null;
  private pending: { text: string; at: number } | null;
  /** The text last taken from or given to the cluster: its reload must not be published again. */
  private synced: string | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  /** A published version found unusable (malformed, too large): not read again. */
  private ignored = 0;
  private busy: Promise<void> = Promise.resolve();
  private pausedSaid = false;

  constructor(private readonly deps: ConfigSyncDeps) {
    this.pending = { text: deps.appliedText(), at: mtimeOf(deps.confPath) };
  }

  start(): void {
    this.timer = setInterval(() => this.sync(), POLL_MS);
    this.sync();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Every configuration this node applied (any trigger); published unless it came from the cluster. */
  applied(text: string): void {
    if (text === this.synced) return;
    this.pending = { text, at: Date.now() };
    this.sync();
  }

  /**
   * Redis is (back) up: compare from scratch, since Redis may have restarted empty and counted
   * versions from 1 again. Our own text is offered as the oldest possible, so any configuration
   * published since wins, and a change made here during the outage (dated) is kept.
   */
  reconnected(): Promise<void> {
    this.version = 0;
    this.pending ??= { text: this.deps.appliedText(), at: 0 };
    return this.sync();
  }

  /** One reconciliation at a time: poll, publish what is pending, apply what is newer. */
  sync(): Promise<void> {
    this.busy = this.busy
      .then(() => this.reconcile())
      .catch((err: Error) => {
        if (this.deps.redis.up) this.deps.log().warn({ err: err.message }, "cluster: configuration sync failed; retrying");
      });
    return this.busy;
  }

  private async reconcile(): Promise<void> {
    const { redis, cluster } = this.deps;
    if (!redis.up) return;
    if (!this.deps.member()) {
      if (!this.pausedSaid) this.deps.log().warn("cluster: configuration sync paused: this node is not a member (see the node_id error)");
      this.pausedSaid = true;
      return;
    }
    this.pausedSaid = false;
    const newest = Number(await redis.send("GET", [`${cluster}:config:version`]));
    const known = Number.isSafeInteger(newest) && newest > 0 ? newest : 0;
    if (known < this.version) {
      // Redis lost its data (restarted without persistence): offer ours again, but as old as can be,
      // so a node holding a change made during the outage wins.
      this.version = 0;
      this.pending ??= { text: this.deps.appliedText(), at: 0 };
    }
    if (this.pending === null && (known <= this.version || known === this.ignored)) return;
    const remote = known > 0 ? await this.read() : null;
    if (remote === null && known > 0) this.ignored = known; // said once; looked at again when a new one comes
    const pending = this.pending;
    if (pending !== null && (remote === null || remote.at <= pending.at) && pending.text === this.deps.appliedText()) {
      if (remote !== null && remote.text === pending.text) {
        this.settle(pending);
        this.take(remote.version, remote.text);
        return;
      }
      if (this.version === 0 && remote !== null) this.replacing(pending.at, remote);
      await this.publish(pending);
      return;
    }
    this.pending = null;
    if (remote === null || remote.version <= this.version) return;
    if (remote.text === this.deps.appliedText()) {
      this.take(remote.version, remote.text);
      return;
    }
    this.synced = remote.text;
    const result = await this.deps.apply(remote.text);
    if (result.ok) {
      this.take(remote.version, remote.text);
      this.deps.log().info({ cluster_version: remote.version, from: remote.nodeId }, `cluster: configuration v${remote.version} from ${remote.nodeId} applied`);
    } else {
      this.synced = null;
      this.version = remote.version; // not retried until a newer one comes
      this.refused = `cluster configuration v${remote.version}: ${result.issues
        .filter((i) => i.severity === "error")
        .map(formatIssue)
        .join("; ")}`;
      this.deps
        .log()
        .error({ cluster_version: remote.version, from: remote.nodeId }, `cluster: configuration v${remote.version} refused here, keeping the applied one`);
    }
  }

  /**
   * A node that joins (or comes back) with a different, newer proxy.conf publishes it over the
   * cluster's (SPEC §17.4): right when the file was edited on purpose, a surprise when a new node
   * was set up with the stock or an empty file. Said loudly, with both dates, either way.
   */
  private replacing(at: number, remote: Published): void {
    const when = (ms: number) => (ms > 0 ? new Date(ms).toISOString() : "unknown");
    this.deps
      .log()
      .warn(
        { cluster_version: remote.version, from: remote.nodeId },
        `cluster: this node's proxy.conf (changed ${when(at)}) is newer than the cluster's v${remote.version} from ${remote.nodeId} (changed ${when(remote.at)}) and replaces it on every node`,
      );
  }

  private take(version: number, text: string): void {
    this.version = version;
    this.synced = text;
    this.refused = null;
  }

  /** A pending change is done with, unless a newer local change replaced it meanwhile. */
  private settle(pending: { text: string; at: number }): void {
    if (this.pending === pending) this.pending = null;
  }

  private async publish(pending: { text: string; at: number }): Promise<void> {
    const { redis, cluster, nodeId } = this.deps;
    const { text, at } = pending;
    const sha = sha256(text);
    const reply = await redis.send("EVAL", [PUBLISH_SCRIPT, "2", `${cluster}:config:version`, `${cluster}:config`, text, sha, nodeId, String(at)]);
    const version = Number(reply);
    if (!Number.isSafeInteger(version)) throw new Error("unexpected reply to the publish script");
    this.settle(pending);
    // Another node published a newer one since we looked: take that one instead.
    if (version === 0) return this.reconcile();
    this.take(version, text);
    this.deps.log().info({ cluster_version: version }, `cluster: configuration published as v${version}`);
  }

  /** The newest published configuration, validated as data before it goes near `check`. */
  async read(): Promise<Published | null> {
    const { redis, cluster } = this.deps;
    const raw = await redis.send("HMGET", [`${cluster}:config`, "version", "text", "sha256", "node_id", "at"]);
    const parsed = parsePublished(raw);
    if (parsed === null && Array.isArray(raw) && raw.some((v) => v !== null)) {
      this.deps.log().warn(`cluster: ignoring ${cluster}:config: not a valid published configuration (too large, bad checksum or malformed)`);
    }
    return parsed;
  }
}

/** HMGET's answer as a Published, or null when missing or malformed (SPEC §17.7). */
export function parsePublished(raw: unknown): Published | null {
  if (!Array.isArray(raw) || raw.length !== 5) return null;
  const [v, text, sha, nodeId, at] = raw as unknown[];
  const version = Number(v);
  const when = Number(at);
  if (typeof text !== "string" || typeof sha !== "string" || typeof nodeId !== "string") return null;
  if (!Number.isSafeInteger(version) || version < 1 || !Number.isFinite(when)) return null;
  if (Buffer.byteLength(text) > MAX_CONF_BYTES || nodeId.length > 128) return null;
  if (sha256(text) !== sha) return null;
  return { version, text, sha256: sha, nodeId, at: when };
}

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function mtimeOf(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}
