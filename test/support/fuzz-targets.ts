/**
 * What the config fuzzers feed and what they demand of every input (issue 11, item 4):
 * proxy.conf text either validates, compiles to a snapshot and survives a serialize → parse round
 * trip, or is refused with errors that each name the file and a line inside it; app.infos text
 * either parses to its settings or is refused the same way. Never a throw.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAppInfos } from "../../src/apps/infos.ts";
import { compile } from "../../src/config/compile.ts";
import { formatIssue, hasErrors, type ConfigIssue } from "../../src/config/issues.ts";
import { validateProxyConfText } from "../../src/config/load.ts";
import { serializeProxyConf } from "../../src/config/serialize.ts";
import { defaultSettings } from "../../src/config/settings.ts";
import { SEPARATOR } from "../config/golden.ts";

const HASH = "$2b$04$V/jNmkNAutObV8q8Sscbc.QPpWQy8zig/gG65ikfspeoFworhWR7C";
const SETTINGS = defaultSettings();
const FILES = { conf: "/srv/proxy.conf", toml: "/srv/config.toml", dir: "/srv" };

/** Valid and invalid proxy.conf files to mutate: the golden cases plus a few dense ones. */
export function proxyConfSeeds(): string[] {
  const dir = join(import.meta.dir, "..", "config", "cases");
  const golden = readdirSync(dir)
    .filter((f) => f.endsWith(".conf"))
    .sort()
    .map((f) => {
      const text = readFileSync(join(dir, f), "utf8");
      return text.slice(0, text.indexOf(SEPARATOR) + 1);
    });
  return [
    ...golden,
    `headers {\n    X-Real: $client_ip $$ $host\n    -X-Debug\n}\ndefault -> http://127.0.0.1:3000\n/api/* -> weight:70 http://a:1, weight:0 http://b:2 @lb:weighted\n/api/* {\n    auth: api_key\n    keys: ci, deploy\n    rate_limit: 10/s burst 20\n}\n`,
    `~^/u/(?P<id>\\d+)/(\\w+)$ -> http://u:8080/users/\${id}/$2?x=$$1\nshop.example.com/admin/* -> https://[::1]:8443/base @auth:admin:${HASH} @auth:ops:${HASH}\nold.example.com -> redirect://new.example.com/path\n/ws -> ws://127.0.0.1:9000, wss://ws.example:443\n`,
    `a.com -> http://x:1, \\\n    http://y:2 \\\n    @lb:failover\na.com {\n    realm: "Say \\"hi\\""\n    auth: none\n}\n* -> http://z:3\n`,
  ];
}

export const PROXY_CONF_DICTIONARY = [
  " -> ",
  "->",
  "headers {",
  "}",
  " {",
  "default",
  "*",
  "~^/x/(\\d+)$",
  "(?P<n>",
  "(?<n>",
  "$1",
  "${1}",
  "${n}",
  "$$",
  "$client_ip",
  "$host",
  "$scheme",
  "/p/*",
  "/exact",
  "host.example",
  "host.example/p/*",
  "[::1]",
  "192.168.1.1",
  "http://",
  "https://",
  "ws://",
  "wss://",
  "redirect://",
  "ftp://",
  "http://127.0.0.1:3000",
  "http://[::1]:80/p?q=1",
  "weight:",
  "weight:0 ",
  "@lb:",
  "@lb:failover",
  "@lb:weighted",
  "@auth:",
  `@auth:u:${HASH}`,
  "@unknown:x",
  ", ",
  "\\\n",
  "# comment\n",
  "auth: basic",
  "auth: jwt",
  "auth: api_key",
  "auth: none",
  'realm: "R"',
  "keys: a, b",
  "rate_limit: 10/s burst 20",
  "rate_limit: 5/m",
  "X-A: v",
  "-X-A",
  "Connection: close",
  "Content-Length: 1",
  "Host: x",
];

function issueProblem(issues: readonly ConfigIssue[], file: string, lineCount: number): string | null {
  for (const issue of issues) {
    if (issue.file !== file) return `issue names another file: ${formatIssue(issue)}`;
    if (issue.message.trim() === "") return "issue without a message";
    if (issue.line === undefined || !Number.isInteger(issue.line) || issue.line < 1 || issue.line > lineCount)
      return `issue without a line inside the file: ${formatIssue(issue)}`;
  }
  return null;
}

/** The property every proxy.conf text must have; returns "valid", "refused" or the problem. */
export function checkProxyConf(text: string): string {
  const { conf, issues } = validateProxyConfText(text, "proxy.conf");
  const problem = issueProblem(issues, "proxy.conf", text.split("\n").length);
  if (problem) return problem;
  if (hasErrors(issues)) return conf === null ? "refused" : "a conf was returned despite errors";
  if (conf === null) return "neither a conf nor an error";
  compile({ version: 1, dev: false, conf, settings: SETTINGS, files: FILES });
  // What an admin write would store must read back as the same rules (SPEC §3.9).
  const written = serializeProxyConf(conf);
  if (!written.ok) return `valid rules that cannot be serialized: ${written.error}`;
  const again = validateProxyConfText(written.text, "proxy.conf");
  if (again.conf === null) return `serialized rules do not parse: ${again.issues.map(formatIssue).join("; ")}\n${written.text}`;
  if (JSON.stringify(again.conf) !== JSON.stringify(conf)) return `serialize → parse changed the rules:\n${written.text}`;
  return "valid";
}

export function appInfosSeeds(): string[] {
  return [
    "",
    'start_script = "bun server.ts"\nhealth_check = "/health"\n',
    'name = "shop"\ndomain = "shop.example.com"\nstart_script = "./bin/serve --port $PORT --workers $WORKERS"\nstop_script = "./bin/stop"\nhealth_check = "/up"\ngraceful_timeout = 30\ndrain_delay = 5\nport_range_start = 20000\nport_range_end = 20010\nworkers = 2\nuser = "www-data"\ngroup = "www-data"\n',
    'docker_image = "nginx:1.27"\ndocker_options = "-e A=1 --memory=256m -v ./data:/data"\ndocker_network = "soli-apps"\n# comment\n',
    "name = 'x'\nworkers = 0\nport_range_end = 10\nunknown = [1, 2]\n[table]\nkey = 1\n",
  ];
}

export const APP_INFOS_DICTIONARY = [
  "name",
  "domain",
  "start_script",
  "stop_script",
  "health_check",
  "graceful_timeout",
  "drain_delay",
  "port_range_start",
  "port_range_end",
  "workers",
  "user",
  "group",
  "docker_image",
  "docker_options",
  "docker_network",
  " = ",
  "=",
  '"',
  "'",
  '"""',
  "'''",
  "[",
  "]",
  "[[a]]",
  "[a.b]",
  "{ a = 1 }",
  "true",
  "false",
  "1979-05-27T07:32:00Z",
  "1.5",
  "+1",
  "0o17",
  "0b101",
  "0xff",
  "inf",
  "nan",
  "-inf",
  "1e400",
  '"\\u0000"',
  '"\\uD800"',
  '"\\x41"',
  "\\",
  "# c",
  "\n",
  "a.b.c = 1",
  '"quoted key" = 1',
  "/health",
  "$PORT",
];

/** The property every app.infos text must have; returns "valid", "refused" or the problem. */
export function checkAppInfos(text: string): string {
  const { infos, issues } = parseAppInfos(text, "app.infos");
  const problem = issueProblem(issues, "app.infos", text.split(/\r?\n/).length);
  if (problem) return problem;
  if (hasErrors(issues)) return infos === null ? "refused" : "settings returned despite errors";
  return infos === null ? "neither settings nor an error" : "valid";
}
