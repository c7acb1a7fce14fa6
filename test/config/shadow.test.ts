import { describe, expect, test } from "bun:test";
import { formatIssue } from "../../src/config/issues.ts";
import { parseProxyConf } from "../../src/config/syntax.ts";

/** The "can never match" warnings of a file, formatted. */
function shadowWarnings(text: string): string[] {
  return parseProxyConf(text)
    .issues.filter((i) => i.message.includes("can never match"))
    .map(formatIssue);
}

describe("rules that can never match (SPEC §3.7)", () => {
  test("a later rule is reported against the first earlier rule that always wins, whichever lookup finds it", () => {
    const text = ["/a/b/* -> http://x:1", "/a/* -> http://x:1", "/a/b/c -> http://x:1", "/a/b -> http://x:1", "~^/a/b/(\\d+)$ -> http://x:1/$1", ""].join("\n");
    expect(shadowWarnings(text)).toEqual([
      "proxy.conf:3:1: warning: rule '/a/b/c' can never match: the rule '/a/b/*' on line 1 comes first and always wins for the same requests",
      // `/a/b/*` also matches `/a/b` itself.
      "proxy.conf:4:1: warning: rule '/a/b' can never match: the rule '/a/b/*' on line 1 comes first and always wins for the same requests",
      "proxy.conf:5:1: warning: rule '~^/a/b/(\\d+)$' can never match: the rule '/a/b/*' on line 1 comes first and always wins for the same requests",
    ]);
  });

  test("a rule written twice is reported against the first, before a wider prefix that comes later", () => {
    const text = ["/x/y/* -> http://x:1", "/x/* -> http://x:1", "/x/y/* -> http://x:2", "default -> http://x:1", "* -> http://x:2", ""].join("\n");
    expect(shadowWarnings(text)).toEqual([
      "proxy.conf:3:1: warning: rule '/x/y/*' can never match: the rule '/x/y/*' on line 1 comes first and always wins for the same requests",
      "proxy.conf:5:1: warning: rule 'default' can never match: the rule 'default' on line 4 comes first and always wins for the same requests",
    ]);
  });

  test("host paths shadow only deeper paths of the same host, and nothing of another kind", () => {
    const text = [
      "h.example/a/* -> http://x:1",
      "h.example/a/b/* -> http://x:1",
      "other.example/a/b/* -> http://x:1",
      "/a/b/* -> http://x:1",
      "h.example -> http://x:1",
      "~^/a/(?:b|c)$ -> http://x:1",
      "~^/a/b? -> http://x:1",
      "",
    ].join("\n");
    expect(shadowWarnings(text)).toEqual([
      "proxy.conf:2:1: warning: rule 'h.example/a/b/*' can never match: the rule 'h.example/a/*' on line 1 comes first and always wins for the same requests",
    ]);
  });

  test("16,000 rules each report their own earlier winner, the last one included", () => {
    // Every earlier rule used to be tried against every later one: 1,000 rules took 28 ms and
    // 16,000 about 25 s (80 s when busy) on the 2-core VM. The cost is measured by
    // `bun bench/config.ts` (its 10,000-rule column), not here: figures go in benchmarks.
    const lines: string[] = [];
    for (let i = 0; i < 8_000; i++) lines.push(`/p${i}/x/* -> http://x:1`, `/p${i}/x/y${i} -> http://x:1`);
    const text = lines.join("\n");
    const warnings = shadowWarnings(text);
    expect([warnings.length, warnings[7_999]]).toEqual([
      8_000,
      "proxy.conf:16000:1: warning: rule '/p7999/x/y7999' can never match: the rule '/p7999/x/*' on line 15999 comes first and always wins for the same requests",
    ]);
  });
});
