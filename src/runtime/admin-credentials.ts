/**
 * ADMIN_USER / ADMIN_PASSWORD for Basic auth on the admin API (SPEC §11.1): each from the
 * environment, else from `.env` beside proxy.conf; empty counts as unset; both or neither. A
 * password given in clear is hashed once (bcrypt) with a warning, so the secret is not kept.
 * Re-read on every reload: admin credentials apply at the next request (SPEC §13).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { BasicCredentials } from "../admin/port.ts";
import type { Logger } from "../lib/log.ts";

const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;

export class AdminCredentials {
  private basic: BasicCredentials | null = null;
  /** The clear password last hashed and its hash, so a reload does not hash it again. */
  private hashed: { plain: string; hash: string } | null = null;

  constructor(
    private readonly dir: string,
    private readonly env: Record<string, string | undefined>,
    private readonly log: () => Logger,
  ) {}

  get(): BasicCredentials | null {
    return this.basic;
  }

  refresh(): void {
    const file = readDotEnv(join(this.dir, ".env"));
    const pick = (name: string) => (this.env[name] ? this.env[name] : file[name] ? file[name] : undefined);
    const user = pick("ADMIN_USER");
    const password = pick("ADMIN_PASSWORD");
    if (!user || !password) {
      if (user || password) this.log().warn("only one of ADMIN_USER and ADMIN_PASSWORD is set; Basic auth for the admin API needs both");
      this.basic = null;
      return;
    }
    if (BCRYPT.test(password)) {
      this.basic = { user, hash: password };
      return;
    }
    if (this.hashed?.plain !== password) {
      this.log().warn("ADMIN_PASSWORD is not a bcrypt hash; it was hashed at start-up. Store the output of 'soli-proxy hash-password' instead");
      this.hashed = { plain: password, hash: Bun.password.hashSync(password, { algorithm: "bcrypt", cost: 10 }) };
    }
    this.basic = { user, hash: this.hashed.hash };
  }
}

/** `KEY=value` lines; `export ` prefixes, `#` comments and matching quotes are understood. */
export function parseDotEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim().replace(/^export\s+/, "");
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) value = value.slice(1, -1);
    out[line.slice(0, eq).trim()] = value;
  }
  return out;
}

function readDotEnv(path: string): Record<string, string> {
  try {
    return existsSync(path) ? parseDotEnv(readFileSync(path, "utf8")) : {};
  } catch {
    return {};
  }
}
