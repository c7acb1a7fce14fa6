/**
 * Golden-file rendering for proxy.conf cases (ARCHITECTURE §7.6): the parsed plain object as JSON
 * when the file is valid, else every issue as `file:line:col: severity: message`, sorted.
 */
import { formatIssue, hasErrors, sortIssues } from "../../src/config/issues.ts";
import { validateProxyConfText } from "../../src/config/load.ts";

export const SEPARATOR = "\n----------\n";

export function renderCase(input: string): string {
  const { conf, issues } = validateProxyConfText(input, "proxy.conf");
  const lines = sortIssues(issues).map(formatIssue);
  if (hasErrors(issues) || !conf) return lines.join("\n") + "\n";
  const warnings = lines.length ? lines.join("\n") + "\n" : "";
  return warnings + JSON.stringify(conf, null, 2) + "\n";
}
