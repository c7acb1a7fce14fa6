/**
 * Bounded, deterministic fuzzing of the proxy.conf and app.infos parsers (issue 11, item 4): every
 * input yields a compiled snapshot (or app settings) or errors that name the file and a line, never
 * a throw, never a hang. bench/fuzz.ts runs the same properties over 100,000 inputs per parser;
 * the regressions below are what those runs found.
 */
import { describe, expect, test } from "bun:test";
import { parseAppInfos } from "../../src/apps/infos.ts";
import { formatIssue } from "../../src/config/issues.ts";
import { validateProxyConfText, validateSettingsText } from "../../src/config/load.ts";
import { logicalLines } from "../../src/config/syntax.ts";
import { tomlPosition } from "../../src/config/toml-position.ts";
import { fuzz } from "../support/fuzz.ts";
import { APP_INFOS_DICTIONARY, appInfosSeeds, checkAppInfos, checkProxyConf, PROXY_CONF_DICTIONARY, proxyConfSeeds } from "../support/fuzz-targets.ts";

/** Milliseconds one call takes. */
function timed(run: () => unknown): number {
  const started = performance.now();
  run();
  return performance.now() - started;
}

describe("config parsers under fuzzing", () => {
  test("3,000 random and mutated proxy.conf files each give a compiled snapshot or errors with file:line", () => {
    const stats = fuzz({ seed: 11, count: 3000, seeds: proxyConfSeeds(), dictionary: PROXY_CONF_DICTIONARY, check: checkProxyConf });
    // Both outcomes must be well represented, or the fuzzer is not reaching past the syntax. Since
    // a line that is not a rule, block or comment is an error (SPEC §3.7), about one in eight is valid.
    expect([stats.failures.slice(0, 3), stats.valid > 300, stats.refused > 600, stats.valid + stats.refused]).toEqual([[], true, true, 3000]);
    expect(stats.slowestMs).toBeLessThan(1000);
  }, 30_000);

  test("5,000 random and mutated app.infos files each give settings or errors with file:line", () => {
    const stats = fuzz({ seed: 11, count: 5000, seeds: appInfosSeeds(), dictionary: APP_INFOS_DICTIONARY, check: checkAppInfos });
    expect([stats.failures.slice(0, 3), stats.valid > 500, stats.refused > 1000, stats.valid + stats.refused]).toEqual([[], true, true, 5000]);
    expect(stats.slowestMs).toBeLessThan(1000);
  }, 30_000);
});

describe("regressions found by fuzzing", () => {
  test("a long run of continuation lines is joined in linear time", () => {
    // Used to be quadratic: 40,000 `\` lines took 4.5 s.
    const text = "/a -> http://x:1 \\\n".repeat(40_000) + "\n";
    let lines: ReturnType<typeof logicalLines> = [];
    const ms = timed(() => (lines = logicalLines(text)));
    expect([lines[0]?.line, lines[0]?.endLine, lines[0]?.text.length]).toEqual([1, 40_001, 40_000 * "/a -> http://x:1 ".length - 1]);
    expect(ms).toBeLessThan(500);
  });

  test("thousands of unknown keys are each located, in linear time", () => {
    // Each issue used to rescan the whole file: 4,000 unknown keys took 10 s of blocked event loop.
    const text = Array.from({ length: 20_000 }, (_, i) => `k${i} = 1`).join("\n");
    let infos: ReturnType<typeof parseAppInfos> | null = null;
    let settings: ReturnType<typeof validateSettingsText> | null = null;
    const ms = timed(() => {
      infos = parseAppInfos(text, "app.infos");
      settings = validateSettingsText(text, "config.toml");
    });
    const lines = (issues: readonly { line?: number }[]) => issues.map((i) => i.line);
    const expected = Array.from({ length: 20_000 }, (_, i) => i + 1);
    expect([lines(infos!.issues), lines(settings!.issues)]).toEqual([expected, expected]);
    expect(ms).toBeLessThan(3000);
  });

  test("keys written as dotted keys or table headers below them are located", () => {
    const text = 'name = "x"\nz.y.x = 2\n[a.b]\n\nc = 1\n';
    expect([
      tomlPosition(text, ["a"]),
      tomlPosition(text, ["a", "b", "c"]),
      tomlPosition(text, ["z"]),
      tomlPosition(text, ["z", "w"]),
      tomlPosition(text, ["nope"]),
    ]).toEqual([{ line: 3, column: 1 }, { line: 5, column: 1 }, { line: 2, column: 1 }, undefined, undefined]);
    expect(parseAppInfos("[a.b]\nc = 1\n", "app.infos").issues.map(formatIssue)).toEqual(["app.infos:1:1: warning: unknown key 'a' ignored"]);
  });

  test("a port range refused for an end left at its default points at the start that was written", () => {
    expect(parseAppInfos('name = "x"\nport_range_start = 40000\n', "app.infos").issues.map(formatIssue)).toEqual([
      "app.infos:2:1: error: port_range_end: port_range_end must not be below port_range_start",
    ]);
  });

  test("an empty option block leaves the rule without options", () => {
    // The rest of this case is in test/config/cases/06-empty-option-block.conf.
    expect(validateProxyConfText("/a -> http://x:1\n/a {\n}\n", "proxy.conf").conf?.rules[0]?.options).toBeNull();
  });
});
