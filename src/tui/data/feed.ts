/**
 * The TUI's data: polls the proxy once a second (SPEC §16.5) over run/control.sock, else over
 * admin.bind with the API key or Basic, follows the app event stream, and reads the state files,
 * the endpoint log and proxy.conf. Each tick replaces `state` with a new object and tells the
 * subscribers; the screens draw from it through the pure models in ../model.
 */
import { existsSync } from "node:fs";
import { AdminClient } from "../../control/admin-client.ts";
import { ControlError } from "../../control/client.ts";
import { appRequestCounters, type AppFiles } from "../model/apps.ts";
import type { EndpointError } from "../model/errors.ts";
import { parseMetrics } from "../model/metrics.ts";
import { appendBounded, trafficSample, type Point, type TrafficSample } from "../model/traffic.ts";
import type { AppEvent, AppInfo, AppLogs, AppTraffic, BreakerInfo, Rule, StatusData, SystemMetrics } from "./api-types.ts";
import { ErrorLogTail, readAppFiles, readText } from "./files.ts";
import type { Places } from "./places.ts";
import type { ClusterInfo } from "../../admin/port.ts";

export type Badge = "Connecting" | "OK" | "Unreachable" | "Unauthorized" | "Disabled";

/** What the visible screen needs beyond the dashboard's figures. */
export type Topic = "routes" | "apps" | "breakers" | "config";

export interface FeedState {
  badge: Badge;
  /** The door in use: the socket path or the admin origin; null when none answers. */
  via: string | null;
  /** Why the proxy cannot be reached or a request failed, for the status line. */
  problem: string | null;
  /** Basic credentials are wanted for this user (SPEC §16.5 sign-in prompt). */
  signIn: { user: string } | null;
  status: StatusData | null;
  /** Dashboard samples, oldest first, one per successful poll. */
  traffic: TrafficSample[];
  routes: Rule[] | null;
  apps: AppInfo[] | null;
  /** Each app's request counter over recent polls. */
  appTraffic: Map<string, Point[]>;
  system: SystemMetrics | null;
  breakers: Record<string, BreakerInfo> | null;
  /** GET /cluster on the dashboard (SPEC §17.1); null when not asked or not answered. */
  cluster: ClusterInfo | null;
  files: AppFiles;
  errors: EndpointError[];
  errorLogExists: boolean;
  confText: string | null;
  /** Recent app events, newest last. */
  events: { at: number; event: AppEvent }[];
  /** When the last poll finished (ms). */
  updatedAt: number;
}

export const POLL_MS = 1000;
export const REQUEST_TIMEOUT_MS = 1500;
/** Deploys wait for health checks; the CLI allows them 600 s (SPEC §16.1). */
export const ACTION_TIMEOUT_MS = 600_000;
const MIN_SAMPLE_MS = 900;
const HISTORY = 600;
const APP_HISTORY = 61;
const EVENTS_KEPT = 50;
const CLIENT_HEADERS = { "x-requested-with": "soli-tui" };

export class Feed {
  state: FeedState;
  private readonly listeners = new Set<() => void>();
  private readonly socket: AdminClient;
  private readonly errorLog: ErrorLogTail;
  private topic: Topic | null = null;
  private password: string | null = null;
  private chosen: AdminClient | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private polling = false;
  private again = false;
  private stopped = false;
  private events: { client: AdminClient; abort: AbortController } | null = null;
  /** Resolved when the next poll to start has finished. */
  private waiting: (() => void)[] = [];

  constructor(readonly places: Places) {
    this.socket = new AdminClient({ kind: "socket", path: places.socketPath }, CLIENT_HEADERS, REQUEST_TIMEOUT_MS);
    this.errorLog = new ErrorLogTail(places.logFile);
    this.state = {
      badge: "Connecting",
      via: null,
      problem: places.settingsProblem,
      signIn: null,
      status: null,
      traffic: [],
      routes: null,
      apps: null,
      appTraffic: new Map(),
      system: null,
      breakers: null,
      cluster: null,
      files: { state: {}, ports: [], sites: [] },
      errors: [],
      errorLogExists: false,
      confText: null,
      events: [],
      updatedAt: 0,
    };
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    void this.poll();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.events?.abort.abort();
    this.events = null;
  }

  /** Polls for what the visible screen shows; a new topic is fetched at once. */
  focus(topic: Topic | null): void {
    if (topic === this.topic) return;
    this.topic = topic;
    this.refresh();
  }

  /** Polls now (or right after the poll in progress). */
  refresh(): void {
    void this.refreshNow();
  }

  /** Polls now; resolves once that poll is in `state` (a write's result shows with its message). */
  private refreshNow(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.polling) {
      this.again = true;
      return done;
    }
    if (this.timer) clearTimeout(this.timer);
    void this.poll();
    return done;
  }

  /** Tries a Basic password for `signIn.user`; a good one is kept for every later request. */
  async signIn(password: string): Promise<"ok" | "wrong" | "unreachable"> {
    const client = this.adminClient(password);
    if (!client) return "unreachable";
    try {
      await client.call("GET", "status");
    } catch (err) {
      if (err instanceof ControlError && err.status === 401) return "wrong";
      return "unreachable";
    }
    this.password = password;
    this.set({ signIn: null });
    await this.refreshNow();
    return "ok";
  }

  /** The door actions go through; throws when no proxy answers (actions need one, SPEC §16.5). */
  client(): AdminClient {
    if (!this.chosen || this.state.badge !== "OK") throw new Error(`no proxy answers (${this.state.badge}); actions need a running proxy`);
    return this.chosen;
  }

  /** Deploy, restart, stop or rollback; resolves with the API's answer once the action is done. */
  async appAction(app: string, action: "deploy" | "restart" | "stop" | "rollback"): Promise<{ message: string; slot?: string }> {
    const answer = await this.client().call<{ message: string; slot?: string }>("POST", `apps/${encodeURIComponent(app)}/${action}`, undefined, {
      timeoutMs: ACTION_TIMEOUT_MS,
    });
    await this.refreshNow();
    return answer;
  }

  appLogs(app: string): Promise<AppLogs> {
    return this.client().call<AppLogs>("GET", `apps/${encodeURIComponent(app)}/logs`);
  }

  async addRoute(rule: Rule): Promise<{ index: number; message: string }> {
    const answer = await this.client().call<{ index: number; message: string }>("POST", "routes", rule);
    await this.refreshNow();
    return answer;
  }

  async updateRoute(index: number, rule: Rule): Promise<void> {
    await this.client().call("PUT", `routes/${index}`, rule);
    await this.refreshNow();
  }

  async deleteRoute(index: number): Promise<void> {
    await this.client().call("DELETE", `routes/${index}`);
    await this.refreshNow();
  }

  private set(patch: Partial<FeedState>): void {
    this.state = { ...this.state, ...patch };
    for (const listener of this.listeners) listener();
  }

  private adminClient(password: string | null = this.password): AdminClient | null {
    const { origin, apiKey, user } = this.places.admin;
    if (!origin) return null;
    const headers: Record<string, string> = {};
    if (apiKey !== "") headers["x-api-key"] = apiKey;
    else if (user && password !== null) headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
    return new AdminClient({ kind: "http", origin, headers }, CLIENT_HEADERS, REQUEST_TIMEOUT_MS);
  }

  private async poll(): Promise<void> {
    this.polling = true;
    const waiting = this.waiting;
    this.waiting = [];
    try {
      await this.pollOnce();
    } catch (err) {
      this.set({ problem: `poll failed: ${(err as Error).message}` });
    } finally {
      for (const resolve of waiting) resolve();
      this.polling = false;
      if (!this.stopped) {
        if (this.again) {
          this.again = false;
          void this.poll();
        } else this.timer = setTimeout(() => void this.poll(), POLL_MS);
      }
    }
  }

  private async pollOnce(): Promise<void> {
    const local = this.readLocal();
    const reached = await this.connect();
    if (reached.kind !== "ok") {
      this.chosen = null;
      this.stopEvents();
      this.set({ ...local, ...reached.patch, updatedAt: Date.now() });
      return;
    }
    const client = reached.client;
    this.chosen = client;
    this.followEvents(client);
    const topic = this.topic;
    // A proxy without cluster mode (or an older one) answers without members: no problem to show.
    const cluster = topic === null ? client.call<ClusterInfo>("GET", "cluster").catch(() => null) : Promise.resolve(null);
    const [metrics, appMetrics, routes, apps, system, breakers] = await Promise.allSettled([
      client.call<string>("GET", "metrics"),
      client.call<Record<string, AppTraffic>>("GET", "app-metrics"),
      topic === "routes" ? client.call<Rule[]>("GET", "routes") : skip,
      topic === "apps" ? client.call<AppInfo[]>("GET", "apps") : skip,
      topic === "apps" ? client.call<SystemMetrics>("GET", "app-metrics/system") : skip,
      topic === "breakers" ? client.call<Record<string, BreakerInfo>>("GET", "circuit-breaker") : skip,
    ]);
    const now = Date.now();
    const patch: Partial<FeedState> = {
      ...local,
      badge: "OK",
      via: client.describe(),
      problem: null,
      signIn: null,
      status: reached.status,
      cluster: await cluster,
      updatedAt: now,
    };
    const failures: string[] = [];
    // Polls brought forward by an event or `r` would make rates over a few milliseconds: samples
    // are kept at least MIN_SAMPLE_MS apart.
    const sampleDue = now - (this.state.traffic[this.state.traffic.length - 1]?.at ?? 0) >= MIN_SAMPLE_MS;
    const take = <T>(result: PromiseSettledResult<T | typeof SKIP>, apply: (value: T) => void) => {
      if (result.status === "rejected") failures.push((result.reason as Error).message);
      else if (result.value !== SKIP) apply(result.value as T);
    };
    take(metrics, (text) => {
      if (typeof text === "string" && sampleDue) patch.traffic = appendBounded(this.state.traffic, trafficSample(parseMetrics(text), now), HISTORY);
    });
    take(appMetrics, (value) => {
      if (!sampleDue) return;
      const counters = appRequestCounters(value);
      const next = new Map<string, Point[]>();
      for (const [name, requests] of counters) next.set(name, appendBounded(this.state.appTraffic.get(name) ?? [], { at: now, value: requests }, APP_HISTORY));
      patch.appTraffic = next;
    });
    take(routes, (value) => (patch.routes = value));
    take(apps, (value) => (patch.apps = value));
    take(system, (value) => (patch.system = value));
    take(breakers, (value) => (patch.breakers = value));
    if (failures.length > 0) patch.problem = failures[0]!;
    this.set(patch);
  }

  /** The state files, sites directory, endpoint log and proxy.conf: read every tick, proxy or not. */
  private readLocal(): Partial<FeedState> {
    const { errors, exists } = this.errorLog.read();
    return {
      files: readAppFiles(this.places),
      errors,
      errorLogExists: exists,
      confText: this.topic === "config" || this.state.confText === null ? readText(this.places.confPath) : this.state.confText,
    };
  }

  /** Finds a door that answers GET /status: the control socket first, then admin.bind. */
  private async connect(): Promise<{ kind: "ok"; client: AdminClient; status: StatusData } | { kind: "none"; patch: Partial<FeedState> }> {
    const { admin } = this.places;
    const doors: AdminClient[] = [];
    if (existsSync(this.places.socketPath)) doors.push(this.socket);
    const http = admin.enabled ? this.adminClient() : null;
    if (http) doors.push(http);
    let problem: string | null = null;
    for (const client of doors) {
      let answer;
      try {
        answer = await client.request("GET", "status");
      } catch (err) {
        problem = (err as Error).message;
        continue;
      }
      const envelope = answer.body as { ok?: boolean; data?: StatusData; error?: string } | null;
      if (answer.status === 401) {
        // A password that worked before and no longer does is asked for again.
        this.password = null;
        const basicOffered = /^basic/i.test(answer.headers.get("www-authenticate") ?? "");
        const canSignIn = basicOffered && admin.apiKey === "" && admin.user !== null;
        const hint =
          admin.apiKey !== ""
            ? "admin.api_key from config.toml was refused"
            : canSignIn
              ? `sign in as ${admin.user}`
              : "set ADMIN_USER (environment or .env) to sign in";
        return { kind: "none", patch: { badge: "Unauthorized", via: client.describe(), problem: hint, signIn: canSignIn ? { user: admin.user! } : null } };
      }
      if (answer.status === 200 && envelope?.ok === true && envelope.data) return { kind: "ok", client, status: envelope.data };
      problem = `${client.describe()} answered HTTP ${answer.status}${envelope?.error ? `: ${envelope.error}` : ""}`;
    }
    if (doors.length === 0) {
      if (!admin.enabled)
        return { kind: "none", patch: { badge: "Disabled", via: null, problem: "no control socket and the admin API is disabled (admin.enabled = false)" } };
      problem = admin.origin ? null : "no control socket, and admin.bind has port 0 so it cannot be dialled";
    }
    return { kind: "none", patch: { badge: "Unreachable", via: null, problem: problem ?? "no soli-proxy answers" } };
  }

  /** Keeps one event stream open to the door in use; each event is kept and triggers a poll. */
  private followEvents(client: AdminClient): void {
    if (this.events?.client.describe() === client.describe()) return;
    this.stopEvents();
    const abort = new AbortController();
    const stream = { client, abort };
    this.events = stream;
    client
      .events(
        "events/apps",
        (data) => {
          this.set({ events: appendBounded(this.state.events, { at: Date.now(), event: data as AppEvent }, EVENTS_KEPT) });
          this.refresh();
        },
        abort.signal,
      )
      .catch(() => {})
      .finally(() => {
        // Reopened by the next poll that reaches a proxy.
        if (this.events === stream) this.events = null;
      });
  }

  private stopEvents(): void {
    this.events?.abort.abort();
    this.events = null;
  }
}

const SKIP = Symbol("skip");
const skip = Promise.resolve(SKIP);
