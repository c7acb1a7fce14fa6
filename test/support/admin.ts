/**
 * Admin API helpers for tests: a config.toml with the admin on a free loopback port, and a small
 * JSON client that sends the headers the API expects.
 */
import { join } from "node:path";
import { createAdminApp } from "../../src/admin/api.ts";
import type { AdminPort } from "../../src/admin/port.ts";
import { appliedConfig, type AppliedConfig } from "../../src/config/applied.ts";
import { compile } from "../../src/config/compile.ts";
import { configFiles, loadConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/lib/log.ts";
import { AdminCredentials } from "../../src/runtime/admin-credentials.ts";
import { createAdminPort, type AdminProviders } from "../../src/runtime/admin.ts";
import { Reloader } from "../../src/runtime/reloader.ts";
import { startOnProject, tempProject, type TestProxy } from "./project.ts";

export const API_KEY = "test-admin-key";

/** config.toml like testToml() but with the admin API on 127.0.0.1:0; `admin` adds [admin] keys. */
export function adminToml(admin = `api_key = "${API_KEY}"`, extra = ""): string {
  return `[server]\nbind = "127.0.0.1:0"\nhttps_port = 0\nworker_threads = 1\nshutdown_grace_period = 1\n\n[admin]\nenabled = true\nbind = "127.0.0.1:0"\n${admin}\n\n${extra}`;
}

export interface ApiAnswer {
  status: number;
  headers: Headers;
  /** Parsed JSON, or the text when the answer is not JSON. */
  body: any;
}

/** Calls `<base>/api/v1/<path>` with the API key (unless `headers` override it) and a JSON body. */
export async function api(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = { "x-api-key": API_KEY },
): Promise<ApiAnswer> {
  const res = await fetch(`${base}/api/v1/${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  if ((res.headers.get("content-type") ?? "").includes("json")) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed };
}

export interface ProxyWithAdmin extends TestProxy {
  /** `http://127.0.0.1:<port>` of the admin listener ("" when it did not start). */
  readonly adminUrl: string;
}

/** Starts a proxy in this process with the admin API on; `env` stands in for process.env. */
export async function startAdminProxy(
  conf: string,
  opts: { toml?: string; env?: Record<string, string | undefined>; files?: Record<string, string>; watch?: boolean } = {},
): Promise<ProxyWithAdmin> {
  const project = tempProject({ "proxy.conf": conf, "config.toml": opts.toml ?? adminToml(), ...opts.files });
  const proxy = await startOnProject(project, { watch: opts.watch, env: opts.env ?? {} });
  const admin = proxy.handle.admin;
  return Object.assign(proxy, { adminUrl: admin ? `http://127.0.0.1:${admin.port}` : "" });
}

export interface AdminAppUnderTest extends Disposable {
  readonly app: ReturnType<typeof createAdminApp>;
  readonly port: AdminPort;
  readonly dir: string;
  readonly conf: string;
  /** What the admin sees as applied (AdminPort.current). */
  current(): AppliedConfig;
}

/**
 * The admin app over a real Reloader on a temp project, without sockets (for `app.request()`):
 * writes really rewrite proxy.conf and really reload.
 */
export function adminAppFor(
  conf: string,
  opts: { toml?: string; env?: Record<string, string | undefined>; providers?: AdminProviders; files?: Record<string, string> } = {},
): AdminAppUnderTest {
  const project = tempProject({ "proxy.conf": conf, "config.toml": opts.toml ?? adminToml(), ...opts.files });
  const files = configFiles(project.conf);
  const loaded = loadConfig(files);
  if (!loaded.conf || !loaded.settings) throw new Error(`invalid test config: ${JSON.stringify(loaded.issues)}`);
  const logger = createLogger({ level: "debug", format: "json", output: `file:${join(project.dir, "proxy.log")}` });
  const reloader = new Reloader({
    files,
    log: () => logger,
    initial: appliedConfig({
      snapshot: compile({ version: 1, dev: false, conf: loaded.conf, settings: loaded.settings, files }),
      conf: loaded.conf,
      settings: loaded.settings,
      confText: loaded.confText ?? "",
      tomlText: loaded.tomlText,
      auth: loaded.auth,
    }),
    compile: (c, settings, version, auth) => compile({ version, dev: false, conf: c, settings, files, auth }),
    swap: () => {},
  });
  const credentials = new AdminCredentials(project.dir, opts.env ?? {}, () => logger);
  credentials.refresh();
  const port = createAdminPort({
    reloader,
    credentials,
    log: () => logger,
    startedAt: Date.now(),
    listeners: { bind: "127.0.0.1:8080", httpsPort: 8443 },
    providers: opts.providers,
  });
  return { app: createAdminApp(port), port, dir: project.dir, conf: project.conf, current: () => reloader.current, [Symbol.dispose]: project.remove };
}
