/** Prometheus' own text-format parser and linter, `promtool check metrics` (Debian package prometheus). */

/** Exit code and output of `promtool check metrics`; null when promtool is not installed. */
export async function promtool(text: string): Promise<{ code: number; output: string } | null> {
  if (Bun.which("promtool") === null) {
    // CI installs it (.ci/run); only a developer machine may go without.
    if (process.env.CI) throw new Error("promtool is not installed (Debian package prometheus, see .ci/run)");
    return null;
  }
  const p = Bun.spawn(["promtool", "check", "metrics"], { stdin: new Blob([text]), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, output: (out + err).trim() };
}

/**
 * What promtool says about valid output: only lint remarks on the names SPEC §10 mandates
 * (counters without `_total`), exit 3. A parse error is exit 1 with "parsing error".
 */
export const SPEC_NAME_LINTS = [
  'proxy_bytes_received counter metrics should have "_total" suffix',
  'proxy_bytes_sent counter metrics should have "_total" suffix',
];
