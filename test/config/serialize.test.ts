import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { hasErrors } from "../../src/config/issues.ts";
import { validateProxyConfText } from "../../src/config/load.ts";
import type { ProxyConf, Rule } from "../../src/config/model.ts";
import { parseRuleInput } from "../../src/config/rule-json.ts";
import { serializeProxyConf } from "../../src/config/serialize.ts";
import { SEPARATOR } from "./golden.ts";

const dir = join(import.meta.dir, "cases");
const HASH = "$2b$04$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234";

function load(text: string): ProxyConf {
  const { conf, issues } = validateProxyConfText(text, "proxy.conf");
  if (!conf || hasErrors(issues)) throw new Error(`invalid test input: ${JSON.stringify(issues)}`);
  return conf;
}

function write(conf: ProxyConf, previous?: { text: string; origins: (number | null)[] }): string {
  const result = serializeProxyConf(conf, previous && { text: previous.text, conf: load(previous.text), origins: previous.origins });
  if (!result.ok) throw new Error(result.error);
  return result.text;
}

function rule(json: unknown): Rule {
  const r = parseRuleInput(json);
  if (!r.ok) throw new Error(r.error);
  return r.rule;
}

const validCases = readdirSync(dir)
  .filter((f) => f.endsWith(".conf"))
  .sort()
  .map((name) => {
    const text = readFileSync(join(dir, name), "utf8");
    return { name, input: text.slice(0, text.indexOf(SEPARATOR) + 1) };
  })
  .filter((c) => !hasErrors(validateProxyConfText(c.input, "proxy.conf").issues));

describe("serializing rules to proxy.conf (SPEC §3.9)", () => {
  test("the golden cases include every valid rule form", () => {
    expect(validCases.map((c) => c.name)).toEqual([
      "01-spec-example.conf",
      "02-sources.conf",
      "03-targets.conf",
      "04-continuation.conf",
      "05-blocks.conf",
      "06-empty-option-block.conf",
    ]);
  });

  for (const { name, input } of validCases) {
    test(`${name}: parse → serialize → parse gives the same rules`, () => {
      const conf = load(input);
      expect(load(write(conf))).toEqual(conf);
    });

    test(`${name}: rewriting with nothing changed reproduces the file byte for byte`, () => {
      const conf = load(input);
      expect(write(conf, { text: input, origins: conf.rules.map((_, i) => i) })).toBe(input);
    });
  }

  test("writes one line per rule with normalized URLs, weights other than 100, @lb only when not implied, and indented blocks", () => {
    const conf: ProxyConf = {
      headers: [{ name: "X-Served-By", value: "soli" }],
      rules: [
        rule({ matcher: { type: "default" }, targets: [{ url: "http://localhost:3000" }] }),
        rule({
          matcher: { type: "prefix", value: "/api/" },
          targets: [
            { url: "http://a:1", weight: 70 },
            { url: "http://b:1", weight: 30 },
          ],
        }),
        rule({ matcher: { type: "exact", value: "/f" }, targets: [{ url: "http://a:1" }, { url: "http://b:1" }], load_balancing: "failover" }),
        rule({ matcher: { type: "exact", value: "/w" }, targets: [{ url: "http://a:1" }, { url: "http://b:1" }], load_balancing: "weighted" }),
        rule({
          matcher: { type: "domain_path", domain: "shop.example.com", path: "/admin/" },
          targets: [{ url: "http://127.0.0.1:7001" }],
          auth: [{ username: "admin", hash: HASH }],
          headers: [
            { name: "X-A", value: "$client_ip" },
            { name: "X-Debug", value: null },
          ],
          options: { auth: "basic", realm: "Shop admin", rate_limit: "10/s burst 20" },
        }),
        rule({ matcher: { type: "regex", value: "^/u/(\\d+)$" }, targets: [{ url: "http://u:8080/users/$1" }] }),
        rule({ matcher: { type: "domain", value: "old.example.com" }, targets: [{ url: "redirect://new.example.com" }] }),
      ],
    };
    expect(write(conf)).toBe(
      [
        "headers {",
        "    X-Served-By: soli",
        "}",
        "default -> http://localhost:3000/",
        "/api/* -> weight:70 http://a:1/, weight:30 http://b:1/",
        "/f -> http://a:1/, http://b:1/ @lb:failover",
        "/w -> http://a:1/, http://b:1/ @lb:weighted",
        `shop.example.com/admin/* -> http://127.0.0.1:7001/ @auth:admin:${HASH}`,
        "headers {",
        "    X-A: $client_ip",
        "    -X-Debug",
        "}",
        "shop.example.com/admin/* {",
        "    auth: basic",
        '    realm: "Shop admin"',
        "    rate_limit: 10/s burst 20",
        "}",
        "~^/u/(\\d+)$ -> http://u:8080/users/$1",
        "old.example.com -> redirect://new.example.com",
        "",
      ].join("\n"),
    );
  });

  const FILE = [
    "# Site rules",
    "",
    "headers {",
    "  X-Global: 1",
    "}",
    "",
    "# the API, two backends",
    "/api/* -> http://a:1, \\",
    "          http://b:1",
    "/api/* {",
    "  auth: none",
    "}",
    "",
    "# legacy: remove after March",
    "/old -> http://old:1",
    "headers {",
    "  -Cookie",
    "}",
    "",
    "default -> http://fallback:1",
    "# trailing note",
    "",
  ].join("\n");

  test("changing one rule keeps every other line and the comment above the changed rule", () => {
    const conf = load(FILE);
    conf.rules[2] = rule({ matcher: { type: "default" }, targets: [{ url: "http://fallback:2" }] });
    const out = write(conf, { text: FILE, origins: [0, 1, 2] });
    expect(out).toBe(FILE.replace("default -> http://fallback:1", "default -> http://fallback:2/"));
  });

  test("a deleted rule takes its comment block and its headers block with it", () => {
    const conf = load(FILE);
    conf.rules.splice(1, 1);
    const out = write(conf, { text: FILE, origins: [0, 2] });
    expect(out).toBe(FILE.replace("# legacy: remove after March\n/old -> http://old:1\nheaders {\n  -Cookie\n}\n\n", ""));
  });

  test("a deleted rule's option block goes too, and an edited rule's options are written after it", () => {
    const conf = load(FILE);
    const withoutApi = write({ headers: conf.headers, rules: conf.rules.slice(1) }, { text: FILE, origins: [1, 2] });
    expect(withoutApi).not.toContain("auth: none");
    expect(withoutApi.startsWith("# Site rules\n\nheaders {\n  X-Global: 1\n}\n\n# legacy")).toBe(true);

    conf.rules[0] = { ...conf.rules[0]!, options: { auth: "basic", realm: "API" } };
    const edited = write(conf, { text: FILE, origins: [0, 1, 2] });
    expect(edited).toContain('# the API, two backends\n/api/* -> http://a:1/, http://b:1/\n/api/* {\n    auth: basic\n    realm: "API"\n}\n\n# legacy');
    expect(load(edited)).toEqual(conf);
  });

  test("an added rule is appended at the end and a changed global block is rewritten in place", () => {
    const conf = load(FILE);
    conf.rules.push(rule({ matcher: { type: "exact", value: "/new" }, targets: [{ url: "http://n:1" }] }));
    conf.headers = [{ name: "X-Global", value: "2" }];
    const out = write(conf, { text: FILE, origins: [0, 1, 2, null] });
    expect(out).toBe(FILE.replace("headers {\n  X-Global: 1\n}\n", "headers {\n    X-Global: 2\n}\n") + "/new -> http://n:1/\n");
  });

  test("refuses rules that no proxy.conf can express, saying why", () => {
    const a = rule({ matcher: { type: "prefix", value: "/p/" }, targets: [{ url: "http://a:1" }], options: { auth: "none" } });
    const b = rule({ matcher: { type: "prefix", value: "/p/" }, targets: [{ url: "http://b:1" }], options: { auth: "basic" } });
    const comma = rule({ matcher: { type: "exact", value: "/c" }, targets: [{ url: "http://a:1/x,y" }] });
    const results = [serializeProxyConf({ headers: [], rules: [a, b] }), serializeProxyConf({ headers: [], rules: [comma] })];
    expect(results.map((r) => (r.ok ? "ok" : r.error))).toEqual([
      "cannot be written as proxy.conf: rules 0 and 1 share the source '/p/*' but have different options (an option block applies to every rule with its source)",
      "cannot be written as proxy.conf: proxy.conf:1:20: error: invalid target URL 'y'",
    ]);
  });
});
