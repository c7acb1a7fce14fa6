/**
 * The primary's side of worker processes (SPEC §15.1): spawn N copies of this executable as
 * workers, give each the inputs of the current snapshot, push every change (config, certificates,
 * ACME tokens, breaker resets), restart one that dies (after 1 s, doubling up to 30 s), sum their
 * counters into the primary's metrics, merge their breakers, and drain them on shutdown.
 *
 * The first worker binds the configured ports; when one is 0 the port it got is the one every
 * other worker (and every restart) binds, with reusePort, so port 0 works as in one process. The
 * others load meanwhile and are told to start once that port is known.
 */
import { answerRate } from "./primary-buckets.ts";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import type { Subprocess } from "bun";
import type { BreakerView } from "../state/breakers.ts";
import { isCompiled } from "../lib/executable.ts";
import type { Logger } from "../lib/log.ts";
import type { ProxyState } from "../state/proxy-state.ts";
import type { ChallengeTokens } from "../tls/challenge.ts";
import { WORKER_ENV, type ConfigPayload, type FromWorker, type TlsEntry, type ToWorker, type WorkerReport } from "./worker-protocol.ts";

/** SPEC §15.1: "auto" is one per CPU core on Linux, 1 elsewhere; --dev is always one process. */
export function workerCount(setting: "auto" | number, dev: boolean): number {
  if (dev) return 1;
  if (setting === "auto") return process.platform === "linux" ? availableParallelism() : 1;
  return setting;
}

export interface WorkerPoolOptions {
  count: number;
  hostname: string;
  httpPort: number;
  httpsPort: number;
  config: ConfigPayload;
  certificates: TlsEntry[];
  /** The primary's token map; publishing a token waits until every worker has it (SPEC §12.6). */
  challenges: ChallengeTokens;
  /** Worker counters are summed into state.metrics and state.appMetrics; failovers go to state.appFailover. */
  state: ProxyState;
  log: () => Logger;
  /** First restart delay and its ceiling (SPEC §15.1: 1 s doubling up to 30 s). */
  restartDelayMs?: { first: number; max: number };
}

/** How long start-up waits for the workers to listen. */
const START_TIMEOUT_MS = 20_000;
/** A change not acknowledged within this is logged and no longer waited for. */
const ACK_TIMEOUT_MS = 5000;
/** A worker that ran this long before dying is restarted after the first delay again. */
const STABLE_AFTER_MS = 30_000;
/** After its own grace period, how long a worker may take to exit before SIGKILL. */
const EXIT_ALLOWANCE_MS = 2000;

/** The messages a worker acknowledges. */
type Acknowledged = Extract<ToWorker, { type: "config" | "challenge" }>;

const SEVERITY = { closed: 0, half_open: 1, open: 2 } as const;

/** One worker slot: the process in it changes when the worker is restarted. */
class WorkerSlot {
  proc: Subprocess | null = null;
  pid = 0;
  /** Told `start`: from then on it receives every change. */
  started = false;
  /** Ready, but waiting for the first worker to resolve port 0. */
  waitingForPorts = false;
  listening = false;
  inFlight = 0;
  breakers: Record<string, BreakerView> = {};
  spawnedAt = 0;
  restartDelay = 0;
  restartTimer: ReturnType<typeof setTimeout> | null = null;
  /** Acknowledgements awaited, by message id; a worker that exits settles them all. */
  readonly acks = new Map<number, () => void>();

  constructor(readonly index: number) {}

  settleAll(): void {
    for (const done of this.acks.values()) done();
    this.acks.clear();
  }
}

export class WorkerPool {
  private readonly workers: WorkerSlot[];
  private config: ConfigPayload;
  private certificates: TlsEntry[];
  private httpPort: number;
  private httpsPort: number;
  private nextId = 0;
  private epoch = 0;
  private stopping = false;
  /** The ports are known: the first worker listens (configured port 0 resolved). */
  private portsKnown = false;
  private delivery: Promise<void> = Promise.resolve();
  private readonly waiters = new Set<(worker: WorkerSlot, error: string | null) => void>();

  private constructor(private readonly opts: WorkerPoolOptions) {
    this.workers = Array.from({ length: opts.count }, (_, i) => new WorkerSlot(i));
    this.config = opts.config;
    this.certificates = opts.certificates;
    this.httpPort = opts.httpPort;
    this.httpsPort = opts.httpsPort;
    opts.challenges.relay = (token, keyAuthorization) => this.broadcast((id) => ({ type: "challenge", id, token, keyAuthorization }));
  }

  /**
   * Spawns the workers and resolves once every one listens; rejects (after stopping them) when
   * one cannot bind, so a start-up fails like a single process that cannot listen (SPEC §2).
   */
  static async start(opts: WorkerPoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(opts);
    try {
      await pool.startAll();
    } catch (err) {
      await pool.stop(true);
      throw err;
    }
    return pool;
  }

  get http(): { hostname: string; port: number } {
    return { hostname: this.opts.hostname, port: this.httpPort };
  }

  get https(): { hostname: string; port: number } {
    return { hostname: this.opts.hostname, port: this.httpsPort };
  }

  /** Live worker pids, by index (0 while one is being restarted). */
  pids(): number[] {
    return this.workers.map((w) => (w.proc && w.proc.exitCode === null && w.proc.signalCode === null ? w.pid : 0));
  }

  /** A new snapshot (reload or app routing table): every worker compiles it (SPEC §13, §14.7 step 4). */
  publishConfig(config: ConfigPayload): void {
    this.config = config;
    this.delivery = this.broadcast((id) => ({ type: "config", id, config }));
  }

  /** Resolves once every worker acknowledged the last published snapshot (or died trying). */
  delivered(): Promise<void> {
    return this.delivery;
  }

  /** A new certificate set (SPEC §12.3): each worker swaps its HTTPS listener. */
  publishCertificates(entries: TlsEntry[]): void {
    this.certificates = entries;
    for (const w of this.live()) this.send(w, { type: "certificates", entries });
  }

  /** POST /circuit-breaker/reset (origin null) or a deploy's new slot (SPEC §6.2). */
  resetBreakers(origin: string | null): void {
    this.epoch++;
    for (const w of this.workers) {
      if (origin === null) w.breakers = {};
      else delete w.breakers[origin];
    }
    for (const w of this.live()) this.send(w, { type: "breaker-reset", epoch: this.epoch, origin });
  }

  /** The workers' breakers merged: the most severe state and the largest counters (SPEC §15.1). */
  breakerStates(): Record<string, BreakerView> {
    return mergeBreakers(this.workers.map((w) => w.breakers));
  }

  /** proxy_requests_in_flight: the sum of the workers' last reports. */
  inFlight(): number {
    return this.workers.reduce((sum, w) => sum + (w.listening ? w.inFlight : 0), 0);
  }

  /**
   * Drains the workers: SIGTERM, and wait for them to exit (each drains for shutdown_grace_period,
   * SPEC §15.4). `force` kills those still running after a short allowance.
   */
  async stop(force = false): Promise<void> {
    this.stopping = true;
    for (const w of this.workers) if (w.restartTimer) clearTimeout(w.restartTimer);
    const running = this.workers.flatMap((w) => (w.proc && w.proc.exitCode === null && w.proc.signalCode === null ? [w.proc] : []));
    for (const proc of running) proc.kill("SIGTERM");
    const exited = Promise.all(running.map((proc) => proc.exited));
    if (!force) return void (await exited);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([exited, new Promise<void>((r) => (timer = setTimeout(r, EXIT_ALLOWANCE_MS)))]);
    clearTimeout(timer);
    for (const proc of running) if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    await exited;
  }

  private live(): WorkerSlot[] {
    return this.workers.filter((w) => w.started && w.proc !== null);
  }

  private async startAll(): Promise<void> {
    const listening = new Promise<void>((resolve, reject) => {
      const pending = new Set(this.workers);
      const timer = setTimeout(() => reject(new Error(`worker processes did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      const waiter = (worker: WorkerSlot, error: string | null) => {
        if (!pending.has(worker)) return;
        if (error !== null) {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          return reject(new Error(error));
        }
        pending.delete(worker);
        if (pending.size > 0) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve();
      };
      this.waiters.add(waiter);
    });
    for (const w of this.workers) this.spawn(w);
    await listening;
  }

  private spawn(w: WorkerSlot): void {
    w.restartTimer = null;
    w.started = false;
    w.waitingForPorts = false;
    w.listening = false;
    w.breakers = {};
    w.inFlight = 0;
    w.spawnedAt = Date.now();
    let failure: string | null = null;
    const proc = Bun.spawn(workerCommand(), {
      env: { ...process.env, [WORKER_ENV]: String(w.index) },
      stdin: "ignore",
      stdout: "inherit",
      stderr: "inherit",
      ipc: (message: FromWorker) => {
        if (message.type === "failed") failure = message.error;
        this.receive(w, message);
      },
      onExit: (_proc, code, signal) => {
        if (w.proc !== proc) return;
        w.proc = null;
        w.listening = false;
        w.settleAll();
        const reason = failure ?? (signal ? `killed by signal ${signal}` : `exited with status ${code}`);
        for (const waiter of this.waiters) waiter(w, `worker ${w.index}: ${reason}`);
        if (!this.stopping) this.scheduleRestart(w, reason);
      },
    });
    w.proc = proc;
    w.pid = proc.pid;
  }

  private scheduleRestart(w: WorkerSlot, reason: string): void {
    const { first, max } = this.opts.restartDelayMs ?? { first: 1000, max: 30_000 };
    const lived = Date.now() - w.spawnedAt;
    w.restartDelay = lived >= STABLE_AFTER_MS || w.restartDelay === 0 ? first : Math.min(w.restartDelay * 2, max);
    this.opts.log().warn({ worker: w.index, pid: w.pid }, `worker ${w.index} (pid ${w.pid}) ${reason}; restarting in ${w.restartDelay / 1000} s`);
    w.restartTimer = setTimeout(() => this.spawn(w), w.restartDelay);
  }

  private receive(w: WorkerSlot, message: FromWorker): void {
    switch (message.type) {
      case "ready":
        if (w.index === 0 || this.portsKnown) this.sendStart(w);
        else w.waitingForPorts = true;
        return;
      case "listening":
        w.listening = true;
        w.pid = message.pid;
        this.httpPort = message.http;
        this.httpsPort = message.https;
        this.portsKnown = true;
        for (const other of this.workers) if (other.waitingForPorts) this.sendStart(other);
        for (const waiter of this.waiters) waiter(w, null);
        return;
      case "failed":
        this.opts.log().error({ worker: w.index }, `worker ${w.index} cannot serve: ${message.error}`);
        return;
      case "ack":
        w.acks.get(message.id)?.();
        return;
      case "report":
        this.absorb(w, message);
        return;
      case "metrics-page?":
        this.absorb(w, message);
        this.send(w, { type: "metrics-page", id: message.id, text: this.opts.state.metrics.render(this.inFlight()) });
        return;
      case "app-failover":
        this.opts.state.appFailover?.(message.app, message.port);
        return;
      case "rate?":
        answerRate(this.opts.state.limiter, message, (answer) => this.send(w, answer));
        return;
    }
  }

  /** Everything as it is now; later changes follow in order on the same channel. */
  private sendStart(w: WorkerSlot): void {
    w.waitingForPorts = false;
    w.started = true;
    this.send(w, {
      type: "start",
      index: w.index,
      hostname: this.opts.hostname,
      httpPort: this.httpPort,
      httpsPort: this.httpsPort,
      config: this.config,
      certificates: this.certificates,
      tokens: this.opts.challenges.entries(),
      epoch: this.epoch,
    });
  }

  private absorb(w: WorkerSlot, report: WorkerReport): void {
    this.opts.state.metrics.absorb(report.metrics);
    this.opts.state.appMetrics.absorb(report.apps);
    w.inFlight = report.inFlight;
    // A report sent before the worker applied the last reset would bring old states back.
    if (report.epoch === this.epoch) w.breakers = report.breakers;
  }

  /** Sends a change to every worker and resolves once each acknowledged it, died, or timed out. */
  private broadcast(message: (id: number) => Acknowledged): Promise<void> {
    return Promise.all(this.live().map((w) => this.request(w, message(++this.nextId)))).then(() => undefined);
  }

  private request(w: WorkerSlot, message: Acknowledged): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        w.acks.delete(message.id);
        this.opts.log().warn({ worker: w.index }, `worker ${w.index} did not confirm a ${message.type} change within ${ACK_TIMEOUT_MS / 1000} s`);
        resolve();
      }, ACK_TIMEOUT_MS);
      w.acks.set(message.id, () => {
        clearTimeout(timer);
        w.acks.delete(message.id);
        resolve();
      });
      if (!this.send(w, message)) w.acks.get(message.id)?.();
    });
  }

  /** False when the worker's channel is gone (it is exiting; a restart gets everything in `start`). */
  private send(w: WorkerSlot, message: ToWorker): boolean {
    try {
      w.proc?.send(message);
      return w.proc !== null;
    } catch {
      return false;
    }
  }
}

/** Several workers' views of the same origins: the most severe state, the largest counters. */
export function mergeBreakers(views: readonly Record<string, BreakerView>[]): Record<string, BreakerView> {
  const merged: Record<string, BreakerView> = {};
  for (const view of views) {
    for (const [origin, b] of Object.entries(view)) {
      const m = merged[origin];
      if (!m) {
        merged[origin] = { ...b };
        continue;
      }
      if (SEVERITY[b.state] > SEVERITY[m.state]) m.state = b.state;
      m.consecutive_failures = Math.max(m.consecutive_failures, b.consecutive_failures);
      m.consecutive_successes = Math.max(m.consecutive_successes, b.consecutive_successes);
    }
  }
  return merged;
}

/** This executable again: alone when compiled, else Bun with src/main.ts (not Bun.main, which may be a test file). */
function workerCommand(): string[] {
  return isCompiled() ? [process.execPath] : [process.execPath, fileURLToPath(new URL("../main.ts", import.meta.url))];
}
