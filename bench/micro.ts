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
import { validateProxyConfText } from "../src/config/load.ts";
import { Breakers } from "../src/state/breakers.ts";
import { Metrics } from "../src/state/metrics.ts";
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
    "~^/admin/.*$ -> http://admin:1",
    "~^/users/(\\d+)$ -> http://users:1/u/$1",
  ].join("\n"),
);
const worst500 = table([...Array.from({ length: 499 }, (_, i) => `/service${i}/* -> http://s${i}:1`), "/target/* -> http://t:1"].join("\n"));
const worstRegex = table([...Array.from({ length: 499 }, (_, i) => `~^/r${i}/(\\d+)$ -> http://s${i}:1`), "/target/* -> http://t:1"].join("\n"));
const three = table("/rr -> http://a:1, http://b:1, http://c:1\n/w -> weight:70 http://a:1, weight:30 http://b:1");
const rr = matchRoute(three, "h", "/rr")!.route;
const weighted = matchRoute(three, "h", "/w")!.route;
const all = () => 0;
let k = 0;

report(
  "route match",
  [
    measure("domain match", () => matchRoute(mixed, "api.example.com", "/v1/items")),
    measure("domain+path match", () => matchRoute(mixed, "shop.example.com", "/admin/users")),
    // The original's case: a regex rule whose target takes no groups (`~^/admin/.*$`).
    measure("regex match", () => matchRoute(mixed, "x.test", "/admin/dashboard")),
    measure("regex match capturing $1", () => matchRoute(mixed, "x.test", "/users/42")),
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

// Circuit breakers: the availability check for one of 1,000 known upstreams (all closed).
const breakers = new Breakers(); // config.toml's [circuit_breaker] defaults
const origins = Array.from({ length: 1000 }, (_, i) => ({ origin: `http://10.0.${i >> 8}.${i & 255}:8080` }));
for (const o of origins) {
  breakers.report(o.origin, breakers.grantFor(o), true);
}
let b = 0;
report(
  "circuit breaker",
  [
    measure("breaker check, 1,000 targets", () => {
      const o = origins[b++ % 1000]!;
      const ticket = breakers.grantFor(o);
      breakers.release(o.origin, ticket);
      return ticket;
    }),
  ],
  { "breaker check, 1,000 targets": "18 ns" },
);

// Metrics: recording one request, and rendering the page with 50 route/upstream label sets.
const metrics = new Metrics();
for (let i = 0; i < 50; i++)
  metrics.record({
    route: `/r${i}/*`,
    upstream: `http://10.0.0.${i}:8080`,
    status: 200,
    seconds: 0.002,
    bytesIn: 0,
    bytesOut: 12,
    relayed: true,
    transportError: false,
  });
const sample = {
  route: "/api/*",
  upstream: "http://10.0.0.1:8080",
  status: 200,
  seconds: 0.0021,
  bytesIn: 0,
  bytesOut: 12,
  relayed: true,
  transportError: false,
};
report("metrics", [measure("record one request", () => metrics.record(sample)), measure("format the page (50 label sets)", () => metrics.render(3), 500)], {
  "record one request": "29 ns",
  "format the page (50 label sets)": "601 ns",
});

// Config parse: proxy.conf text → validated plain object (what `check` and every reload do first).
const confOf = (n: number) =>
  Array.from({ length: n }, (_, i) =>
    i % 3 === 0
      ? `/service${i}/* -> http://10.0.0.${i % 250}:8080, http://10.0.1.${i % 250}:8080`
      : i % 3 === 1
        ? `app${i}.example.com -> http://127.0.0.1:${7000 + i}`
        : `~^/u${i}/(\\d+)$ -> http://users:8080/u/$1`,
  ).join("\n");
const conf5 = confOf(5);
const conf100 = confOf(100);
report(
  "config parse (syntax + validation)",
  [measure("5 rules", () => validateProxyConfText(conf5, "proxy.conf"), 500), measure("100 rules", () => validateProxyConfText(conf100, "proxy.conf"), 1000)],
  { "5 rules": "6.9 µs", "100 rules": "45 µs" },
);
