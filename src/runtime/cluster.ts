/**
 * Cluster mode (SPEC §17), wired: one Redis link, the membership heartbeat, configuration sync,
 * shared rate-limit buckets and the certificate store. Everything here is optional to the proxy:
 * with Redis down the node serves with its local state and this module only reports `down`.
 */
import { hostname } from "node:os";
import type { Settings } from "../config/settings.ts";
import { rateBackend } from "../config/settings.ts";
import type { ReloadResult } from "../config/issues.ts";
import type { Logger } from "../lib/log.ts";
import { VERSION } from "../lib/version.ts";
import { ConfigSync, sha256 } from "../cluster/config-sync.ts";
import { Membership, type MemberView } from "../cluster/members.ts";
import { RedisBuckets } from "../cluster/rate.ts";
import { RedisLink } from "../cluster/redis.ts";
import { RedisAcmeStore } from "../cluster/acme-store.ts";
import type { ChallengeTokens } from "../tls/challenge.ts";
import type { TlsRuntime } from "./tls.ts";
import type { ProxyState } from "../state/proxy-state.ts";
import type { ClusterInfo } from "../admin/port.ts";

/** GET /api/v1/cluster (SPEC §11.2). */
export type ClusterView = ClusterInfo;

export interface ClusterDeps {
  settings: Settings;
  state: ProxyState;
  /** The bound plain port, for the default node_id `<hostname>-<port>`. */
  httpPort: number;
  confPath: string;
  appliedText: () => string;
  lastReloadError: () => string | null;
  applyConf: (text: string) => Promise<ReloadResult>;
  /** Certificates: shared through Redis when this node orders them (letsencrypt mode). */
  tls: TlsRuntime;
  challenges: ChallengeTokens;
  log: () => Logger;
}

export interface ClusterHandle {
  readonly redis: RedisLink;
  readonly nodeId: string;
  /** Settles after the first connection attempt (ACME waits for it, so it can take the lock). */
  readonly ready: Promise<void>;
  /** Tell the cluster about every configuration applied here (published unless it came from it). */
  configApplied(text: string): void;
  view(): Promise<ClusterView>;
  stop(): Promise<void>;
}

/** Starts cluster mode when [cluster] redis_url is set; null otherwise. */
export function startCluster(deps: ClusterDeps): ClusterHandle | null {
  const { settings, state, log } = deps;
  const url = settings.cluster.redis_url;
  if (url === undefined) return null;
  const name = settings.cluster.name;
  const nodeId = settings.cluster.node_id ?? `${hostname()}-${deps.httpPort}`.replace(/[^A-Za-z0-9._-]/g, "-");
  const heartbeatMs = settings.cluster.heartbeat_secs * 1000;

  const redis = new RedisLink({ url, log });
  const sync = new ConfigSync({
    redis,
    cluster: name,
    nodeId,
    confPath: deps.confPath,
    appliedText: deps.appliedText,
    apply: deps.applyConf,
    member: () => members.isJoined,
    log,
  });
  let lastRequests = state.metrics.requests;
  let lastBeat = Date.now();
  const members = new Membership(redis, {
    cluster: name,
    nodeId,
    heartbeatMs,
    log,
    report: () => {
      const now = Date.now();
      const rps = ((state.metrics.requests - lastRequests) * 1000) / Math.max(1, now - lastBeat);
      lastRequests = state.metrics.requests;
      lastBeat = now;
      const refused = sync.refused;
      const local = deps.lastReloadError();
      return {
        version: VERSION,
        config_version: sync.version,
        config_sha256: sha256(deps.appliedText()),
        requests_per_second: Math.round(rps * 10) / 10,
        last_reload_error: refused ?? local,
      };
    },
  });
  if (rateBackend(settings) === "redis") state.limiter.shared = new RedisBuckets(redis, name);
  state.metrics.cluster = () => ({ members: redis.up ? members.members : 0, redisUp: redis.up });

  let certs: RedisAcmeStore | null = null;
  if (deps.tls.ordersCertificates) {
    certs = new RedisAcmeStore({
      redis,
      cluster: name,
      nodeId,
      cacheDir: deps.tls.cacheDir,
      challenges: deps.challenges,
      install: () => deps.tls.reload(),
      lockTtlMs: 3 * heartbeatMs,
      log,
    });
    deps.tls.shareAcme(certs);
  }

  // (Re)connected: show up at once and resynchronise (SPEC §17.6).
  redis.onState((s) => {
    if (s !== "up") return;
    // Membership first: configuration sync runs only for a member (not a duplicate node_id).
    void members.beat().then(() => sync.reconnected());
    certs?.resync();
  });
  const ready = redis.start();
  members.start();
  sync.start();
  certs?.start();
  log().info({ cluster: name, node_id: nodeId, rate_limits: rateBackend(settings) }, "cluster mode");

  return {
    redis,
    nodeId,
    ready,
    configApplied: (text) => sync.applied(text),
    async view() {
      let list: MemberView[] = [];
      if (redis.up) list = await members.list().catch(() => []);
      return { enabled: true, name, redis: redis.status, self: nodeId, members: list };
    },
    async stop() {
      sync.stop();
      certs?.stop();
      await members.stop();
      redis.close();
    },
  };
}
