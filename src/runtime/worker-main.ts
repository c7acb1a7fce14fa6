/**
 * A worker process (SPEC §15.1): serves proxy traffic on the shared ports and nothing else. It
 * reads no configuration file: the primary sends the inputs of every snapshot, the certificate set
 * and the ACME tokens; the worker compiles, binds (reusePort) and swaps, and reports its counters
 * every second. The admin API, apps, ACME and watchers stay in the primary.
 *
 * It stops on SIGTERM (graceful, SPEC §15.4) or when the primary goes away (IPC disconnect).
 * SIGINT, SIGHUP and SIGUSR1 are the primary's to act on: a Ctrl-C in a terminal reaches every
 * process of the group, and the primary then drains the workers itself.
 */
import { compile } from "../config/compile.ts";
import type { Snapshot } from "../config/snapshot.ts";
import type { Logger, LogLevel } from "../lib/log.ts";
import { ProxyError } from "../proxy/errors.ts";
import { ProxyState } from "../state/proxy-state.ts";
import { ChallengeTokens } from "../tls/challenge.ts";
import { loggerFor } from "./logging.ts";
import { PrimaryBuckets } from "./primary-buckets.ts";
import { Serving } from "./serving.ts";
import { unpackAuth, type ConfigPayload, type FromWorker, type ToWorker, type WorkerReport } from "./worker-protocol.ts";

/** How often counters go to the primary; metrics answers are at most this old (SPEC §15.1). */
export const REPORT_EVERY_MS = 1000;
/** A metrics page the primary does not answer within this is a 503. */
const PAGE_TIMEOUT_MS = 2000;

/** Runs this process as worker `index` until it is told to stop; resolves the exit code. */
export function runWorker(index: number): Promise<number> {
  return new Promise<number>((exit) => {
    let worker: ServingWorker | null = null;
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      if (!worker) return exit(0);
      void worker.shutdown().then(() => exit(0));
    };
    process.on("message", (message: ToWorker) => {
      if (message.type !== "start") return worker?.handle(message);
      if (worker || stopping) return;
      try {
        worker = new ServingWorker(index, message);
      } catch (err) {
        void send({ type: "failed", error: (err as Error).message }, true).then(() => exit(1));
        return;
      }
      void send({ type: "listening", http: worker.ports.http, https: worker.ports.https, pid: process.pid });
    });
    process.on("disconnect", stop);
    process.on("SIGTERM", stop);
    for (const signal of ["SIGINT", "SIGHUP", "SIGUSR1"] as const) process.on(signal, () => {});
    void send({ type: "ready" });
  });
}

/** Sends to the primary; `flush` waits until the message left this process (before exiting). */
function send(message: FromWorker, flush = false): Promise<void> {
  if (!process.connected || !process.send) return Promise.resolve();
  if (!flush) {
    process.send(message);
    return Promise.resolve();
  }
  return new Promise<void>((done) => {
    const timer = setTimeout(done, 1000);
    process.send!(message, () => {
      clearTimeout(timer);
      done();
    });
  });
}

class ServingWorker {
  readonly state = new ProxyState();
  readonly ports: { http: number; https: number };
  private readonly serving: Serving;
  private readonly log: Logger;
  private readonly challenges = new ChallengeTokens();
  private readonly reporter: ReturnType<typeof setInterval>;
  /** The last breaker reset applied; the primary ignores breaker states from before it. */
  private epoch = 0;
  private nextPage = 0;
  private readonly pages = new Map<number, (text: string) => void>();
  /** Every rate-limit token comes from the primary's buckets: one bucket per client per machine. */
  private readonly rates = new PrimaryBuckets((asks) => {
    if (!process.connected || !process.send) return false;
    process.send(asks);
    return true;
  });

  constructor(
    readonly index: number,
    start: Extract<ToWorker, { type: "start" }>,
  ) {
    this.log = loggerFor(start.config.settings.logging, start.config.files.dir, false, index);
    this.serving = new Serving({ snapshot: build(start.config), state: this.state, challenges: this.challenges, log: () => this.log });
    for (const [token, keyAuthorization] of start.tokens) this.challenges.set(token, keyAuthorization);
    this.epoch = start.epoch;
    this.state.metricsPage = () => this.metricsPage();
    // Request failover (SPEC §14.8) is the supervisor's, in the primary.
    this.state.appFailover = (app, port) => void send({ type: "app-failover", app, port });
    this.state.limiter.shared = this.rates;
    try {
      this.ports = this.serving.bind({ hostname: start.hostname, httpPort: start.httpPort, httpsPort: start.httpsPort, certificates: start.certificates });
    } catch (err) {
      throw new Error(`cannot listen on ${(err as Error).message}`);
    }
    this.reporter = setInterval(() => void send({ type: "report", ...this.report() }), REPORT_EVERY_MS);
    this.log.info({ pid: process.pid, http: this.ports.http, https: this.ports.https, version: this.serving.current().version }, "worker listening");
  }

  handle(message: ToWorker): void {
    switch (message.type) {
      case "config":
        this.apply(message.config);
        void send({ type: "ack", id: message.id });
        return;
      case "challenge":
        if (message.keyAuthorization === null) this.challenges.delete(message.token);
        else this.challenges.set(message.token, message.keyAuthorization);
        void send({ type: "ack", id: message.id });
        return;
      case "certificates":
        try {
          this.serving.replaceCertificates(message.entries);
        } catch (err) {
          this.log.error(`could not serve the new certificate set, keeping the previous one: ${(err as Error).message}`);
        }
        return;
      case "breaker-reset":
        if (message.origin === null) this.state.breakers.resetAll();
        else this.state.breakers.reset(message.origin);
        this.epoch = message.epoch;
        void send({ type: "report", ...this.report() }); // the merged view shows the reset at once
        return;
      case "metrics-page":
        this.pages.get(message.id)?.(message.text);
        this.pages.delete(message.id);
        return;
      case "rate":
        this.rates.answered(message);
        return;
    }
  }

  /** A new snapshot from the primary: the same inputs, so the same version (SPEC §15.1). */
  private apply(config: ConfigPayload): void {
    let next: Snapshot;
    try {
      next = build(config);
    } catch (err) {
      this.log.error(
        { version: config.version },
        `cannot compile config v${config.version}, keeping v${this.serving.current().version}: ${(err as Error).message}`,
      );
      return;
    }
    this.serving.swap(next);
    this.log.level = config.settings.logging.level as LogLevel;
    this.log.debug({ version: next.version }, `config v${next.version} applied`);
  }

  /** What the primary sums: the counters since the last report, and the live figures. */
  private report(): WorkerReport {
    return {
      inFlight: this.state.inFlight,
      metrics: this.state.metrics.drain(),
      apps: this.state.appMetrics.drain(),
      breakers: this.state.breakers.snapshot(),
      epoch: this.epoch,
    };
  }

  /** metrics.endpoint: the primary adds this worker's fresh counters to the sum and renders it. */
  private metricsPage(): Promise<string> {
    const id = ++this.nextPage;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pages.delete(id);
        reject(new ProxyError(503, "internal", `the primary process did not answer the metrics request within ${PAGE_TIMEOUT_MS} ms`));
      }, PAGE_TIMEOUT_MS);
      this.pages.set(id, (text) => {
        clearTimeout(timer);
        resolve(text);
      });
      void send({ type: "metrics-page?", id, ...this.report() });
    });
  }

  /** SPEC §15.4 for this process's listeners; the last counters go to the primary before exit. */
  async shutdown(): Promise<void> {
    this.log.info("Received shutdown signal, draining connections...");
    clearInterval(this.reporter);
    await this.serving.stop();
    await send({ type: "report", ...this.report() }, true);
    this.log.info("worker stopped");
  }
}

function build(config: ConfigPayload): Snapshot {
  return compile({
    version: config.version,
    dev: config.dev,
    conf: config.conf,
    settings: config.settings,
    apps: config.apps,
    files: config.files,
    auth: unpackAuth(config.auth),
  });
}
