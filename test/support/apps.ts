/**
 * Managed-app test projects: a temp project whose sites/ holds copies of the tiny test app
 * (test/fixtures/apps/server.ts), readable by `nobody` so a root test run can drop privileges to
 * it, and a proxy started on it with short supervision clocks.
 */
import { accessSync, chmodSync, constants, copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { canBind } from "../../src/apps/slot-ports.ts";
import type { AppTimings } from "../../src/apps/timings.ts";
import { adminToml } from "./admin.ts";
import { startOnProject, tempProject, testToml, type TempProject, type TestProxy } from "./project.ts";

export const FIXTURE_APP = join(import.meta.dir, "..", "fixtures", "apps", "server.ts");
export const IS_ROOT = process.getuid?.() === 0;

/** Clocks for tests: a health wait of up to 3 s probing every 100 ms, fast crash back-off. */
export const FAST: Partial<AppTimings> = { healthIntervalMs: 100, healthWaitMs: 3000, healthTimeoutMs: 1000, crashBackoffMs: 200, dockerPollMs: 200 };

export interface TestApp {
  /** app.infos text; defaults to the test app with small graceful/drain times and a random port range. */
  infos?: string;
  behaviour?: Record<string, unknown>;
}

/** A port range of 40 ports somewhere in 20000–29959, so concurrent runs rarely meet. */
export function randomRange(): string {
  const start = 20000 + Math.floor(Math.random() * 249) * 40;
  return `port_range_start = ${start}\nport_range_end = ${start + 39}\n`;
}

/**
 * The first port of a random block of `count` consecutive ports in 20000–29999 that nothing
 * listens on now. Below the ephemeral range on purpose: the ports after a port-0 one are where
 * outgoing sockets of other tests land, so "port 0 plus one" may be taken by the time a test
 * allocates it.
 */
export function freePortBlock(count: number): number {
  for (let tries = 0; tries < 100; tries++) {
    const start = 20000 + Math.floor(Math.random() * Math.floor(10000 / count)) * count;
    if (Array.from({ length: count }, (_, i) => start + i).every(canBind)) return start;
  }
  throw new Error(`no ${count} consecutive free ports found in 20000-29999`);
}

export function defaultInfos(extra = ""): string {
  return `start_script = "bun server.ts"\ngraceful_timeout = 2\ndrain_delay = 0\n${randomRange()}${extra}`;
}

/** Writes sites/<name>/ with the test app; directories 0755 so `nobody` can enter them. */
export function writeApp(project: TempProject, name: string, app: TestApp = {}): string {
  const dir = join(project.dir, "sites", name);
  mkdirSync(dir, { recursive: true });
  copyFileSync(FIXTURE_APP, join(dir, "server.ts"));
  writeFileSync(join(dir, "app.infos"), app.infos ?? defaultInfos());
  if (app.behaviour) writeFileSync(join(dir, "behaviour.json"), JSON.stringify(app.behaviour));
  openUp(project);
  return dir;
}

export function setBehaviour(dir: string, behaviour: Record<string, unknown>): void {
  writeFileSync(join(dir, "behaviour.json"), JSON.stringify(behaviour));
  chmodSync(join(dir, "behaviour.json"), 0o644);
}

/** mkdtemp makes 0700 directories; the apps run as `nobody` when the tests run as root. */
export function openUp(project: TempProject): void {
  chmodSync(project.dir, 0o755);
  try {
    chmodSync(join(project.dir, "sites"), 0o755);
  } catch {}
}

/** Fails early with a clear message when `nobody` could not run the bun binary. */
export function assertBunUsableByNobody(): void {
  if (!IS_ROOT) return;
  accessSync(process.execPath, constants.X_OK);
  const probe = Bun.spawnSync([process.execPath, "-e", "1"], { uid: 65534, gid: 65534, env: { PATH: "/usr/bin:/bin" } });
  if (probe.exitCode !== 0) throw new Error(`nobody cannot run ${process.execPath}: ${probe.stderr.toString()}`);
}

export interface AppsProxy extends TestProxy {
  readonly sites: string;
  /** GET through the proxy with a Host header. */
  get(host: string, path?: string): Promise<Response>;
}

export interface AppsProxyOptions {
  apps?: Record<string, TestApp>;
  conf?: string;
  /** Extra config.toml tables; [apps] defaults to default_user = "nobody" and a 1 s monitor. */
  toml?: string;
  appsToml?: string;
  dev?: boolean;
  watch?: boolean;
  timings?: Partial<AppTimings>;
  /** The admin API on 127.0.0.1:0 with the test API key (adminToml). */
  admin?: boolean;
  /** Runs before the proxy starts (state left by an "earlier run"). */
  before?: (project: TempProject) => void | Promise<void>;
}

export async function startAppsProxy(opts: AppsProxyOptions = {}): Promise<AppsProxy> {
  assertBunUsableByNobody();
  const appsToml = opts.appsToml ?? `[apps]\ndefault_user = "nobody"\nhealth_check_interval_secs = 1\n`;
  const tables = `${appsToml}\n${opts.toml ?? ""}`;
  const project = tempProject({ "proxy.conf": opts.conf ?? "# no rules\n", "config.toml": opts.admin ? adminToml(undefined, tables) : testToml(tables) });
  mkdirSync(join(project.dir, "sites"), { recursive: true });
  openUp(project);
  for (const [name, app] of Object.entries(opts.apps ?? {})) writeApp(project, name, app);
  await opts.before?.(project);
  const proxy = await startOnProject(project, { dev: opts.dev, watch: opts.watch, appTimings: { ...FAST, ...opts.timings } });
  await proxy.handle.appsStarted;
  return Object.assign(proxy, {
    sites: join(project.dir, "sites"),
    get: (host: string, path = "/") => fetch(proxy.url + path, { headers: { host }, redirect: "manual" }),
  });
}
