import { describe, expect, test } from "bun:test";
import { formatIssue } from "../../src/config/issues.ts";
import { validateProxyConfText } from "../../src/config/load.ts";
import { checkParsedConf, targetUrlGetters, targetUrlParts } from "../../src/config/rule-checks.ts";
import { proxyConfSchema } from "../../src/config/schema.ts";
import { parseProxyConf } from "../../src/config/syntax.ts";
import { mutate, Rng } from "../support/fuzz.ts";
import { PROXY_CONF_DICTIONARY, proxyConfSeeds } from "../support/fuzz-targets.ts";

/** Lines whose problems zod reports in a particular way: several per value, or none past a failed one. */
const EDGES = [
  "/a -> weight:99999999999999999999 http://a:1",
  "/b -> weight:x http://a:1, redirect://b",
  "/c -> ftp://a, redirect://b @auth:u:nohash",
  "/d -> weight:300 http://a:1, redirect://b @auth::nohash",
  "/e -> http://a:1, redirect://b @lb:random",
  "~( -> http://a:1, redirect://b",
  "~^/(a)$ -> weight:256 http://a:1/$2/${x}/$1, redirect://x @auth:u:bad",
  "~^/(?P<id>a)$ -> http://a:1/${id}/${nope}",
  "bad.example:1/p/* -> http://a:1 @auth:u:x",
  'headers {\n  Bad Name: $nope\n  Connection: x\n}\n/f -> http://a:1\nheaders {\n  -Te\n}\n/f {\n  rate_limit: 0/s\n  realm: "a\\\\b"\n  auth: magic\n  keys: a\n}',
].join("\n");

/** What zod says about the object the parser made: [path, message] pairs, or the output when valid. */
function viaZod(text: string): unknown {
  const result = proxyConfSchema.safeParse(parseProxyConf(text).conf);
  return result.success ? { conf: result.data } : { problems: result.error.issues.map((i) => [i.path.join("."), i.message]) };
}

function viaChecks(text: string): unknown {
  const { conf, problems } = checkParsedConf(parseProxyConf(text).conf);
  return problems.length === 0 ? { conf } : { problems: problems.map((p) => [p.path, p.message]) };
}

describe("checking a parsed proxy.conf without zod", () => {
  test("gives the issues the zod schema gives the same parsed object, in the same order, or the same checked copy", () => {
    const rng = new Rng(19);
    const seeds = [...proxyConfSeeds(), EDGES];
    const inputs = [...seeds];
    for (let i = 0; i < 1500; i++) inputs.push(mutate(rng, rng.pick(seeds), PROXY_CONF_DICTIONARY));
    const differing = inputs.filter((text) => JSON.stringify(viaChecks(text)) !== JSON.stringify(viaZod(text)));
    const valid = inputs.filter((text) => "conf" in (viaChecks(text) as object)).length;
    // Both outcomes must be well represented, or the comparison proves little.
    expect([differing.slice(0, 2), valid > 100, inputs.length - valid > 600]).toEqual([[], true, true]);
  });

  test("reports every problem of the edge lines with file, line and column, as the schema words them", () => {
    const { conf, issues } = validateProxyConfText(EDGES, "proxy.conf");
    expect(conf).toBeNull();
    // Recorded from the zod schema before this fast path existed.
    expect(issues.filter((i) => i.severity === "error").map(formatIssue)).toEqual([
      // A weight beyond the safe integers fails zod's int() and max() alike: said twice.
      "proxy.conf:1:7: error: weight must be an integer from 0 to 255",
      "proxy.conf:1:7: error: weight must be an integer from 0 to 255",
      // A weight that is no number, a bad URL or @lb stop the rule's whole-rule checks (the redirect mix).
      "proxy.conf:2:7: error: weight must be an integer from 0 to 255",
      "proxy.conf:3:7: error: unsupported scheme 'ftp:' in 'ftp://a' (use http, https, ws, wss or redirect)",
      // Out of range, an empty user name or a bad regex do not.
      "proxy.conf:4:7: error: weight must be an integer from 0 to 255",
      "proxy.conf:4:49: error: @auth needs a user name without ':' (@auth:USER:HASH)",
      "proxy.conf:4:50: error: bad @auth hash for user '': expected a bcrypt hash ($2a$, $2b$ or $2y$, cost 04-13); make one with 'soli-proxy hash-password'",
      "proxy.conf:4:6: error: a rule's targets must be all redirect:// or none of them",
      "proxy.conf:5:32: error: unknown @lb strategy 'random' (use round-robin, weighted or failover)",
      "proxy.conf:6:2: error: invalid regex '(': missing )",
      "proxy.conf:6:6: error: a rule's targets must be all redirect:// or none of them",
      "proxy.conf:7:12: error: weight must be an integer from 0 to 255",
      "proxy.conf:7:67: error: bad @auth hash for user 'u': expected a bcrypt hash ($2a$, $2b$ or $2y$, cost 04-13); make one with 'soli-proxy hash-password'",
      "proxy.conf:7:11: error: a rule's targets must be all redirect:// or none of them",
      "proxy.conf:7:23: error: target refers to group '2' which the regex does not have (it has 1 group)",
      "proxy.conf:7:23: error: target refers to group 'x' which the regex does not have (it has 1 group)",
      "proxy.conf:8:18: error: target refers to group 'nope' which the regex does not have (it has 1 group: id)",
      "proxy.conf:9:1: error: a rule source cannot include a port ('bad.example:1'): routing ignores the port",
      // The headers block after line 9 is that rule's, checked before its whole-rule checks.
      "proxy.conf:11:3: error: invalid header name 'Bad Name'",
      "proxy.conf:11:13: error: unknown variable '$nope' (use $client_ip, $scheme, $host, or $$ for a literal '$')",
      "proxy.conf:12:3: error: header 'Connection' cannot be changed in a headers block: the proxy manages it",
      "proxy.conf:9:41: error: bad @auth hash for user 'u': expected a bcrypt hash ($2a$, $2b$ or $2y$, cost 04-13); make one with 'soli-proxy hash-password'",
      "proxy.conf:16:4: error: header 'Te' cannot be changed in a headers block: the proxy manages it",
      "proxy.conf:21:9: error: bad auth value 'magic' (use basic, api_key, jwt or none)",
      "proxy.conf:20:10: error: realm cannot contain quotes, backslashes or control characters",
      "proxy.conf:19:15: error: bad rate_limit '0/s' (expected N/s or N/m, optionally followed by 'burst M')",
    ]);
  });

  test("hands back a copy with target URLs in their normal form and option keys in the schema's order", () => {
    const text = "/a/* -> http://A:1, weight:0 http://b:2/x?q=1 @lb:weighted\n/a/* {\n  rate_limit: 5/m\n  keys: k1\n  auth: api_key\n}\n";
    const parsed = parseProxyConf(text);
    const { conf, problems } = checkParsedConf(parsed.conf);
    expect(problems).toEqual([]);
    expect(conf.rules[0]).toEqual({
      matcher: { type: "prefix", value: "/a/" },
      targets: [
        { url: "http://a:1/", weight: 100 },
        { url: "http://b:2/x?q=1", weight: 0 },
      ],
      load_balancing: "weighted",
      auth: [],
      headers: [],
      options: { auth: "api_key", keys: ["k1"], rate_limit: "5/m" },
    });
    expect(Object.keys(conf.rules[0]!.options!)).toEqual(["auth", "keys", "rate_limit"]);
    // The parser's own object is left as it was written.
    expect([parsed.conf.rules[0]!.targets[0]!.url, conf.rules[0] === parsed.conf.rules[0]]).toEqual(["http://A:1", false]);
  });
});

describe("a target URL's parts", () => {
  test("are the ones URL's getters give, for every target URL form", () => {
    const urls = [
      "http://a:1",
      "https://A.example.COM/x/y?q=1&r=%20",
      "http://user:p%40ss@h:8080/p?",
      "http://u@h/",
      "ws://[::1]:9000/socket",
      "wss://[2001:db8::1]/",
      "http://127.0.0.1:80/x/../y",
      "http://h:443/",
      "https://h:443/",
      "redirect://example.com",
      "redirect://Example.com:8443/a?b=c",
      "redirect://h?x",
      "http://h/${name}/$1?id=${id}",
      "http://h/a?b?c",
      "http://h/%2F/a",
      "http://xn--nxasmq6b.example/",
      "http://h/p#frag",
      "mailto:x@y",
    ];
    const rng = new Rng(23);
    const chars = ["/", "?", "@", ":", "[", "]", "%", "#", "$", "{", "}", "a", "1", ".", "-", "x", "\\"];
    for (let i = 0; i < 3000; i++) {
      let u = rng.pick(urls.slice(0, 14));
      for (let k = rng.int(4); k >= 0; k--) {
        const at = rng.int(u.length + 1);
        u = u.slice(0, at) + rng.pick(chars) + u.slice(at);
      }
      urls.push(u);
    }
    const differing = urls.filter((u) => {
      if (!URL.canParse(u)) return false;
      return JSON.stringify(targetUrlParts(new URL(u))) !== JSON.stringify(targetUrlGetters(new URL(u)));
    });
    expect([differing.slice(0, 3), urls.filter((u) => URL.canParse(u)).length > 1000]).toEqual([[], true]);
  });
});
