/**
 * What each dashboard page shows, read from the admin API itself (SPEC §18: the dashboard builds
 * on the API as it is). Requests go through the app in-process as `local` calls, after the guard
 * has let the browser in; an endpoint this build lacks (501, 404) gives null and the page shows
 * what there is.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { parseProxyConf } from "../../config/syntax.ts";
import type { AdminEnv } from "../port.ts";

export type LocalFetch = (req: Request, env: AdminEnv) => Response | Promise<Response>;
export const PAGES = ["overview", "routes", "apps", "certs", "cluster"] as const;
export type Page = (typeof PAGES)[number];

/** Log lines per slot the Apps page follows. */
const LOG_LINES = 60;
/** Certificates warn when they expire in fewer days than this (SPEC §18). */
export const EXPIRY_WARNING_DAYS = 14;

export class LiveData {
  /** Issuer by certificate file and expiry, so a file is parsed once per renewal. */
  private readonly issuers = new Map<string, string | null>();

  constructor(
    private readonly fetch: LocalFetch,
    /** The applied proxy.conf's path, to say on which line each rule is. */
    private readonly confPath: () => string,
  ) {}

  /** The `data` of GET /api/v1/<path>, or null when the endpoint failed or is missing. */
  async api<T = unknown>(path: string): Promise<T | null> {
    try {
      const res = await this.fetch(new Request(`http://admin.local/api/v1/${path}`), { local: true, peer: null });
      if (!res.ok) return null;
      const body = (await res.json()) as { ok?: boolean; data?: T };
      return body.ok === true ? (body.data ?? null) : null;
    } catch {
      return null;
    }
  }

  /** True when cluster mode answers with enabled = true (issue 17); the Cluster page shows only then. */
  async clusterEnabled(): Promise<boolean> {
    const cluster = await this.api<{ enabled?: unknown }>("cluster");
    return cluster?.enabled === true;
  }

  async page(page: Page): Promise<unknown> {
    switch (page) {
      case "overview":
        return { status: await this.api("status") };
      case "routes": {
        const [routes, breakers] = await Promise.all([this.api("routes"), this.api("circuit-breaker")]);
        return { routes, breakers, ...this.ruleLines() };
      }
      case "apps":
        return this.apps();
      case "certs":
        return { certs: this.certs(await this.api<CertRow[]>("certs")) };
      case "cluster":
        return { cluster: await this.api("cluster") };
    }
  }

  /** The proxy.conf line of each rule, in file order; none when the file no longer parses. */
  private ruleLines(): { file: string; lines: number[] | null; line_count: number } {
    const file = this.confPath();
    try {
      const text = readFileSync(file, "utf8");
      const parsed = parseProxyConf(text, file);
      return { file: basename(file), lines: parsed.spans.map((s) => s.line), line_count: text.split("\n").length - (text.endsWith("\n") ? 1 : 0) };
    } catch {
      return { file: basename(file), lines: null, line_count: 0 };
    }
  }

  private async apps(): Promise<unknown> {
    const [apps, metrics, system] = await Promise.all([
      this.api<{ config?: { name?: string } }[]>("apps"),
      this.api("app-metrics"),
      this.api("app-metrics/system"),
    ]);
    const logs: Record<string, { blue: string[]; green: string[] }> = {};
    for (const app of apps ?? []) {
      const name = app.config?.name;
      if (typeof name !== "string") continue;
      const text = await this.api<{ blue?: string; green?: string }>(`apps/${encodeURIComponent(name)}/logs`);
      logs[name] = { blue: tail(text?.blue ?? ""), green: tail(text?.green ?? "") };
    }
    return { apps, metrics, system, logs };
  }

  private certs(rows: CertRow[] | null): unknown[] | null {
    if (rows === null) return null;
    const now = Date.now();
    return rows.map((row) => {
      const days = Math.floor((Date.parse(row.not_after) - now) / 86_400_000);
      return { ...row, issuer: this.issuer(row), days_left: days, warning: days < EXPIRY_WARNING_DAYS };
    });
  }

  private issuer(row: CertRow): string | null {
    const key = `${row.file}\n${row.not_after}`;
    if (!this.issuers.has(key)) {
      let issuer: string | null = null;
      try {
        issuer = new X509Certificate(readFileSync(row.file)).issuer.replace(/\n/g, ", ");
      } catch {
        // Unreadable or gone since the last scan: the row shows no issuer.
      }
      if (this.issuers.size > 1000) this.issuers.clear();
      this.issuers.set(key, issuer);
    }
    return this.issuers.get(key) ?? null;
  }
}

interface CertRow {
  name: string;
  file: string;
  source: string;
  not_after: string;
  sans: string[];
}

function tail(text: string): string[] {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.slice(-LOG_LINES);
}
