/**
 * ConfigIssue: one problem found while loading configuration, with where it is and whose it is.
 * Loaders return lists of these and never throw for a user's mistake (ARCHITECTURE §6).
 */
export type Severity = "error" | "warning";

export interface ConfigIssue {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
  /** Dotted path into the plain config object, when the issue is about a value. */
  readonly path?: string;
  readonly severity: Severity;
  readonly message: string;
}

export function hasErrors(issues: readonly ConfigIssue[]): boolean {
  return issues.some((i) => i.severity === "error");
}

/** `file:line:col: severity: message` (SPEC §16.2); line and column are left out when unknown. */
export function formatIssue(issue: ConfigIssue): string {
  let where = issue.file;
  if (issue.line !== undefined) {
    where += `:${issue.line}`;
    if (issue.column !== undefined) where += `:${issue.column}`;
  }
  return `${where}: ${issue.severity}: ${issue.message}`;
}

/**
 * The issue with a three-line code frame and a caret under the column, in the style of
 * smol-toml's TomlError, for people reading a terminal.
 */
export function formatIssueWithFrame(issue: ConfigIssue, source: string | undefined): string {
  const head = formatIssue(issue);
  if (source === undefined || issue.line === undefined) return head;
  const lines = source.split(/\r?\n/);
  const from = Math.max(1, issue.line - 1);
  const to = Math.min(lines.length, issue.line + 1);
  const width = String(to).length;
  const frame: string[] = [];
  for (let n = from; n <= to; n++) {
    frame.push(`${String(n).padStart(width)} | ${lines[n - 1] ?? ""}`);
    if (n === issue.line && issue.column !== undefined) {
      frame.push(`${" ".repeat(width)} | ${" ".repeat(Math.max(0, issue.column - 1))}^`);
    }
  }
  return `${head}\n${frame.join("\n")}`;
}

/** Errors first, then warnings; within each, by file, line, column (SPEC §16.2 prints errors first). */
export function sortIssues(issues: readonly ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort(
    (a, b) =>
      (a.severity === b.severity ? 0 : a.severity === "error" ? -1 : 1) ||
      a.file.localeCompare(b.file) ||
      (a.line ?? 0) - (b.line ?? 0) ||
      (a.column ?? 0) - (b.column ?? 0),
  );
}

export class ConfigError extends Error {
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(
      issues
        .filter((i) => i.severity === "error")
        .map(formatIssue)
        .join("\n"),
    );
    this.name = "ConfigError";
  }
}

/** What every configuration change returns (ARCHITECTURE §3): the new version, or why nothing changed. */
export type ReloadResult = { ok: true; version: number } | { ok: false; issues: ConfigIssue[] };
