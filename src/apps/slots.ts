/**
 * Starting and stopping one slot of an app (SPEC §14.4, §14.5, §14.7 "Stopping a slot"): the
 * checks before a start (script, privileges, port), the spawn, and the stop sequence — stop_script,
 * SIGTERM to the group, SIGKILL when the graceful_timeout budget runs out.
 */
import { closeSync, constants, openSync } from "node:fs";
import type { Logger } from "../lib/log.ts";
import { scriptArgv } from "./command.ts";
import type { AppConfig, Slot } from "./config.ts";
import { adoptContainer, containerImage, containerName, startContainer, type DockerCli } from "./docker.ts";
import { openSlotLog, slotLogPath } from "./logs.ts";
import type { ManagedApp, SlotState } from "./managed.ts";
import { acceptsConnections } from "./slot-ports.ts";
import { userEnv } from "./app-env.ts";
import { notOurApp } from "./adopt.ts";
import { adoptPid, appEnv, spawnNative, terminateGroup, type SlotProcess } from "./process.ts";
import type { SlotStatus } from "./state-files.ts";
import type { AppTimings } from "./timings.ts";
import { resolveIdentity, type Identity } from "./users.ts";

export interface SlotRunnerOptions {
  runDir: string;
  timings: AppTimings;
  log: Logger;
  docker: DockerCli;
  /** uid of this process: root drops privileges and refuses to run apps as root. */
  uid: number;
  /** A slot process ended without being asked to. */
  onExit(app: ManagedApp, slot: SlotState, reason: string): void;
}

export class SlotRunner {
  private readonly warnedIdentity = new Set<string>();
  /** Set on shutdown: nothing new starts. */
  closing = false;

  constructor(private readonly opts: SlotRunnerOptions) {}

  /** Starts the slot's process; the slot becomes `Starting`. Throws with the SPEC message when it cannot. */
  /**
   * `reuseImage` (rollback, Docker mode): run the image ID this slot ran last instead of the
   * image's tag now, so a rollback goes back to the previous image (SPEC §14.7).
   */
  async start(app: ManagedApp, slotName: Slot, reuseImage = false): Promise<SlotProcess> {
    const config = app.config;
    const slot = app.slots[slotName];
    if (this.closing) throw new Error(`soli-proxy is shutting down; ${config.name} slot ${slotName} not started`);
    if (!config.startScript && !config.docker) throw new Error(`No start script configured for ${config.name}`);
    const identity = config.docker ? null : this.identityFor(config);
    if (await acceptsConnections(slot.port)) {
      throw new Error(`Port ${slot.port} is already in use by another process. Cannot start ${config.name} slot ${slotName}`);
    }
    // Read at each start, so an edited .env takes effect on the next deploy (SPEC §14.2).
    const own = userEnv(config.env, config.envFile, config.dir);
    const fd = openSlotLog(this.opts.runDir, config.name, slotName);
    let proc: SlotProcess;
    try {
      proc = config.docker
        ? await startContainer(
            this.opts.docker,
            config,
            config.docker,
            slotName,
            slot.port,
            fd,
            own,
            reuseImage && slot.image ? slot.image : config.docker.image,
          )
        : spawnNative({
            argv: scriptArgv(config.startScript!, { port: slot.port, workers: config.workers }),
            cwd: config.dir,
            env: appEnv(slot.port, config.workers, identity, own),
            logFd: fd,
            identity,
          });
    } finally {
      closeSync(fd);
    }
    this.attach(app, slot, proc);
    if (config.docker) slot.image = (await containerImage(this.opts.docker, containerName(config.name, slotName), config.dir)) ?? slot.image;
    slot.status = "Starting";
    slot.lastStarted = new Date();
    slot.lastExit = null;
    this.opts.log.info({ app: config.name, slot: slotName, port: slot.port, pid: proc.pid }, "app slot started");
    return proc;
  }

  /** Takes over a process recorded by an earlier run (the standalone CLI acts on what runs). */
  adopt(app: ManagedApp, slotName: Slot, pid: number | null, status: SlotStatus): boolean {
    const slot = app.slots[slotName];
    if (app.config.docker) {
      // a container is known by its name; the pid may not have been known when it was recorded
      if (pid === null && status === "Stopped") return false;
      this.attach(app, slot, adoptContainer(this.opts.docker, app.name, slotName, app.config.dir));
      return true;
    }
    // never a pid that now belongs to another program (SPEC §14.7, apps/adopt.ts)
    if (pid === null || notOurApp(pid, app.config, slot.port) !== null) return false;
    this.attach(app, slot, adoptPid(pid));
    return true;
  }

  /** Stops whatever runs in the slot; the slot ends in `status`. */
  async stop(app: ManagedApp, slotName: Slot, status: SlotStatus = "Stopped"): Promise<void> {
    const config = app.config;
    const slot = app.slots[slotName];
    const proc = slot.proc;
    if (proc) {
      slot.stopping = true;
      const budget = config.gracefulTimeoutSecs * 1000;
      const started = Date.now();
      try {
        if (config.stopScript) await this.runStopScript(config, slotName, slot.port, budget);
        await proc.terminate(Math.max(0, budget - (Date.now() - started)));
      } finally {
        if (slot.proc === proc) slot.proc = null;
        slot.stopping = false;
      }
      this.opts.log.info({ app: config.name, slot: slotName, pid: proc.pid }, "app slot stopped");
    }
    slot.status = status;
  }

  private attach(app: ManagedApp, slot: SlotState, proc: SlotProcess): void {
    slot.proc = proc;
    void proc.exited.then((reason) => {
      if (slot.proc !== proc || slot.stopping) return; // replaced, or we asked for it
      slot.proc = null;
      slot.status = "Failed";
      slot.lastExit = reason;
      try {
        this.opts.onExit(app, slot, reason);
      } catch (err) {
        this.opts.log.error({ app: app.name, err: (err as Error).message }, "handling an app exit failed");
      }
    });
  }

  /**
   * The identity an app runs as (SPEC §14.4). As root a user is required; as anyone else the
   * configured user/group cannot be switched to and are ignored with a warning.
   */
  private identityFor(config: AppConfig): Identity | null {
    if (this.opts.uid !== 0) {
      if ((config.user || config.group) && !this.warnedIdentity.has(config.name)) {
        this.warnedIdentity.add(config.name);
        this.opts.log.warn({ app: config.name }, `user/group of ${config.name} ignored: soli-proxy is not running as root`);
      }
      return null;
    }
    if (!config.user) {
      throw new Error(
        `Refusing to spawn ${config.name} as root: no user/group configured (set user in ${config.dir}/app.infos or [apps] default_user in config.toml)`,
      );
    }
    return resolveIdentity(config.user, config.group);
  }

  /** stop_script: argv, no shell, cwd the app dir, PORT and WORKERS; killed when the budget runs out. */
  private async runStopScript(config: AppConfig, slot: Slot, port: number, budgetMs: number): Promise<void> {
    // As the app: a root proxy drops to the app's user when it has one (docker apps may have none).
    const identity = this.opts.uid === 0 && config.user ? resolveIdentity(config.user, config.group) : null;
    const fd = openSync(slotLogPath(this.opts.runDir, config.name, slot), constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o640);
    try {
      const proc = spawnNative({
        argv: scriptArgv(config.stopScript!, { port, workers: config.workers }),
        cwd: config.dir,
        env: appEnv(port, config.workers, identity),
        logFd: fd,
        identity,
      });
      const finished = await Promise.race([proc.exited.then(() => true), Bun.sleep(budgetMs).then(() => false)]);
      if (!finished) await terminateGroup(proc.pid!, 0, proc.exited);
    } catch (err) {
      this.opts.log.warn({ app: config.name, slot, err: (err as Error).message }, "stop_script failed");
    } finally {
      closeSync(fd);
    }
  }
}
