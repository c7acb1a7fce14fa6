/**
 * Docker mode (SPEC §14.5): the app runs as container `soli-<name>-<slot>` through the docker CLI,
 * its port published on 127.0.0.1 only. `docker logs -f` feeds the slot log; the container's
 * state is polled (exited, dead or missing ⇒ an unexpected exit).
 */
import type { AppConfig, DockerConfig, Slot } from "./config.ts";
import { scriptArgv } from "./command.ts";
import type { SlotProcess } from "./process.ts";

export function containerName(app: string, slot: Slot): string {
  return `soli-${app}-${slot}`;
}

/** `docker run …` argv after the `docker` program itself. */
export function dockerRunArgv(
  app: AppConfig,
  docker: DockerConfig,
  slot: Slot,
  port: number,
  own: Readonly<Record<string, string>> = {},
  image = docker.image,
): string[] {
  return [
    "run",
    "-d",
    "--name",
    containerName(app.name, slot),
    "--network",
    docker.network,
    "-p",
    `127.0.0.1:${port}:${port}`,
    ...docker.options,
    // the app's env and env_file (SPEC §14.2), before PORT and WORKERS so those always win
    ...Object.entries(own).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
    "-e",
    `PORT=${port}`,
    "-e",
    `WORKERS=${app.workers}`,
    "-e",
    `HEALTH_CHECK=${app.healthCheck}`,
    image,
    ...(app.startScript ? scriptArgv(app.startScript, { port, workers: app.workers }) : []),
  ];
}

export interface DockerCli {
  /** The docker program (`docker`, looked up on the proxy's PATH). */
  command: string;
  /** How often the container state is polled. */
  pollMs: number;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runDocker(cli: DockerCli, args: readonly string[], cwd: string): Promise<CommandResult> {
  let proc;
  try {
    proc = Bun.spawn([cli.command, ...args], { cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  } catch (err) {
    throw new Error(`cannot run ${cli.command}: ${(err as Error).message}`);
  }
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout: stdout.trim(), stderr: stderr.trim() };
}

/** Starts the slot's container (removing a leftover one, creating the network) and follows it. */
export async function startContainer(
  cli: DockerCli,
  app: AppConfig,
  docker: DockerConfig,
  slot: Slot,
  port: number,
  logFd: number,
  own: Readonly<Record<string, string>> = {},
  image = docker.image,
): Promise<SlotProcess> {
  const name = containerName(app.name, slot);
  await runDocker(cli, ["rm", "-f", name], app.dir);
  if ((await runDocker(cli, ["network", "inspect", docker.network], app.dir)).code !== 0) {
    const created = await runDocker(cli, ["network", "create", "--driver", "bridge", docker.network], app.dir);
    if (created.code !== 0) throw new Error(`docker network create ${docker.network} failed: ${created.stderr || `status ${created.code}`}`);
  }
  const run = await runDocker(cli, dockerRunArgv(app, docker, slot, port, own, image), app.dir);
  if (run.code !== 0) throw new Error(`docker run for ${name} failed: ${run.stderr || `status ${run.code}`}`);
  const follower = Bun.spawn([cli.command, "logs", "-f", name], { cwd: app.dir, stdin: "ignore", stdout: logFd, stderr: logFd, detached: true });
  follower.unref();
  const proc = followContainer(cli, name, app.dir, () => follower.kill("SIGKILL"));
  await proc.checked; // the container's pid is known before app_state.json records the slot
  return proc;
}

/** The image ID a container runs (`sha256:…`), or null when docker does not say. */
export async function containerImage(cli: DockerCli, name: string, cwd: string): Promise<string | null> {
  const r = await runDocker(cli, ["inspect", "-f", "{{.Image}}", name], cwd).catch(() => null);
  const id = r?.code === 0 ? r.stdout.trim() : "";
  return /^sha256:[0-9a-f]{64}$/.test(id) ? id : null;
}

/** A container started earlier, known by name (a previous run recorded it). */
export function adoptContainer(cli: DockerCli, app: string, slot: Slot, cwd: string): SlotProcess {
  return followContainer(cli, containerName(app, slot), cwd, () => {});
}

function followContainer(cli: DockerCli, name: string, cwd: string, stopLogs: () => void): SlotProcess & { checked: Promise<void> } {
  let pid: number | null = null;
  let settle: (reason: string) => void = () => {};
  const exited = new Promise<string>((done) => (settle = done));
  let gone = false;
  const check = async () => {
    const r = await runDocker(cli, ["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.Pid}}", name], cwd).catch(() => null);
    if (r === null) return; // the docker CLI itself is unavailable: the container's state is unknown, not gone
    const [status, code, mainPid] = r.stdout.split(/\s+/);
    if (r.code === 0 && Number(mainPid) > 0) pid = Number(mainPid);
    if (r.code !== 0) return finish(`container ${name} is missing`);
    if (status === "exited" || status === "dead") return finish(`exited with status ${code ?? "unknown"}`);
  };
  const finish = (reason: string) => {
    if (gone) return;
    gone = true;
    clearInterval(timer);
    stopLogs();
    settle(reason);
  };
  const timer = setInterval(() => void check(), cli.pollMs);
  (timer as { unref?: () => void }).unref?.();
  const checked = check();
  return {
    checked,
    get pid() {
      return pid;
    },
    exited,
    async terminate(budgetMs: number) {
      if (!gone) {
        // Whole seconds, rounded: the few milliseconds a stop_script or a busy machine takes off the
        // budget must not cost the app a whole second of its graceful_timeout.
        await runDocker(cli, ["stop", "-t", String(Math.max(0, Math.round(budgetMs / 1000))), name], cwd);
        await runDocker(cli, ["rm", "-f", name], cwd);
        finish("stopped");
      }
    },
  };
}
