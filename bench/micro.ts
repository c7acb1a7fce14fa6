/**
 * Micro-benchmarks of the hot-path pieces, the same set as the original Rust soli-proxy's:
 * route matching (domain, regex, 500-rule worst case), load-balancer pick, and request-path
 * helpers. Run: bun bench/micro.ts
 */
import { compileRoutes } from "../src/config/compile.ts";
import type { ProxyConf } from "../src/config/model.ts";
import { proxyConfSchema } from "../src/config/schema.ts";
import { parseProxyConf } from "../src/config/syntax.ts";
import { pickTarget } from "../src/proxy/pick.ts";
import { matchRoute } from "../src/proxy/route.ts";
import { measure, report } from "./harness.ts";

function table(text: string) {
  const conf = proxyConfSchema.parse(parseProxyConf(text).conf) as ProxyConf;
  return compileRoutes(conf.rules, [], conf.headers);
}

const mixed = table(
  [
    "default -> http://d:1",
    "api.example.com -> http://api:1",
    "shop.example.com/admin/* -> http://admin:1",
    "/static/* -> http://static:1",
    "~^/users/(\\d+)$ -> http://users:1/u/$1",
  ].join("\n"),
);
const worst500 = table([...Array.from({ length: 499 }, (_, i) => `/service${i}/* -> http://s${i}:1`), "/target/* -> http://t:1"].join("\n"));
const worstRegex = table([...Array.from({ length: 499 }, (_, i) => `~^/r${i}/(\\d+)$ -> http://s${i}:1`), "/target/* -> http://t:1"].join("\n"));
const three = table("/rr -> http://a:1, http://b:1, http://c:1\n/w -> weight:70 http://a:1, weight:30 http://b:1");
const rr = matchRoute(three, "h", "/rr")!.route;
const weighted = matchRoute(three, "h", "/w")!.route;
const all = () => true;
let k = 0;

report(
  "route match",
  [
    measure("domain match", () => matchRoute(mixed, "api.example.com", "/v1/items")),
    measure("domain+path match", () => matchRoute(mixed, "shop.example.com", "/admin/users")),
    measure("regex match", () => matchRoute(mixed, "x.test", "/users/42")),
    measure("500-rule worst case (prefix)", () => matchRoute(worst500, "x.test", "/target/x")),
    measure("500-rule worst case (regex)", () => matchRoute(worstRegex, "x.test", "/target/x")),
  ],
  { "domain match": "54 ns", "regex match": "57 ns", "500-rule worst case (prefix)": "587 ns" },
);
report(
  "load balancing",
  [measure("round-robin pick (3 targets)", () => pickTarget(rr, k++, all)), measure("weighted pick (70/30)", () => pickTarget(weighted, k++, all))],
  { "round-robin pick (3 targets)": "1.6 ns" },
);
