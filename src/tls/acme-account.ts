/**
 * The ACME account (SPEC §12.6): its key lives in `<cache_dir>/account_credentials.json` (0600,
 * written atomically) and is reused across restarts; an unreadable or corrupt file is replaced.
 * Registering is idempotent in RFC 8555 (§7.3.1: newAccount with a known key returns that
 * account), so every session registers, which also covers a CA that forgot us.
 */
import "../lib/x509.ts"; // reflect-metadata before acme-client loads its own @peculiar/x509
import * as acme from "acme-client";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../lib/atomic-write.ts";
import type { Logger } from "../lib/log.ts";

export const ACCOUNT_FILE = "account_credentials.json";

interface AccountFile {
  directory_url: string;
  account_url: string;
  contact: string[];
  private_key_pem: string;
}

export interface AccountOptions {
  cacheDir: string;
  directoryUrl: string;
  email: string;
  log: Logger;
  /** First delay (ms) between polls of a pending challenge or order; doubles up to 10 s. */
  pollMs?: number;
}

/** An acme-client Client registered with the CA, its account saved in cache_dir. */
export async function openAccount(opts: AccountOptions): Promise<acme.Client> {
  const path = join(opts.cacheDir, ACCOUNT_FILE);
  const stored = readAccount(path, opts.log);
  const accountKey = stored?.private_key_pem ?? (await acme.crypto.createPrivateEcdsaKey("P-256")).toString();
  const contact = [`mailto:${opts.email}`];
  const client = new acme.Client({
    directoryUrl: opts.directoryUrl,
    accountKey,
    backoffAttempts: 12,
    backoffMin: opts.pollMs ?? 1000,
    backoffMax: 10_000,
  });
  if (!stored) {
    // Agreeing is implied by tls.mode = "letsencrypt" (SPEC §4); say what was agreed to.
    const terms = await client.getTermsOfServiceUrl().catch(() => null);
    opts.log.info(
      { terms: terms ?? "none published", directory: opts.directoryUrl },
      `creating an ACME account; this agrees to the CA's terms of service${terms ? ` at ${terms}` : ""}`,
    );
  }
  await client.createAccount({ termsOfServiceAgreed: true, contact });
  const saved: AccountFile = { directory_url: opts.directoryUrl, account_url: client.getAccountUrl(), contact, private_key_pem: accountKey };
  if (JSON.stringify(saved) !== JSON.stringify(stored)) {
    writeFileAtomic(path, JSON.stringify(saved, null, 2) + "\n", 0o600);
    opts.log.info({ file: path, account: saved.account_url }, stored ? "ACME account updated" : "ACME account created");
  }
  return client;
}

/** Whether `text` is an account file this module can use (for one read from a cluster's Redis). */
export function usableAccount(text: string): boolean {
  if (text.length > 64 * 1024) return false;
  try {
    const value = JSON.parse(text) as Partial<AccountFile>;
    if (typeof value.private_key_pem !== "string") return false;
    acme.crypto.getPublicKey(value.private_key_pem);
    return true;
  } catch {
    return false;
  }
}

function readAccount(path: string, log: Logger): AccountFile | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT")
      log.warn({ file: path }, `cannot read ${path} (${(err as Error).message}); creating a new ACME account`);
    return null;
  }
  try {
    const value = JSON.parse(text) as Partial<AccountFile>;
    if (typeof value.private_key_pem !== "string") throw new Error("no private_key_pem");
    acme.crypto.getPublicKey(value.private_key_pem); // throws when the key does not parse
    return {
      directory_url: String(value.directory_url ?? ""),
      account_url: String(value.account_url ?? ""),
      contact: Array.isArray(value.contact) ? value.contact.map(String) : [],
      private_key_pem: value.private_key_pem,
    };
  } catch (err) {
    log.warn({ file: path }, `${path} is not a usable ACME account (${(err as Error).message}); creating a new one`);
    return null;
  }
}
