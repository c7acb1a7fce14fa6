/**
 * `$host` and `$client_ip` in `headers {}` values come from the request, so they must never carry
 * CR, LF or any other byte that could end a header line upstream. Bun's parser already refuses such
 * bytes in HTTP/1.1 and HTTP/2 fields (test/e2e/hostile-http.test.ts); these tests show the proxy's
 * own parsing would keep them out even if one got through: $host comes from hostFromAuthority and
 * $client_ip from the peer or a trusted X-Forwarded-For / Forwarded entry that parses as an IP.
 */
import { describe, expect, test } from "bun:test";
import { HeaderVar, type HeaderRule } from "../../src/config/snapshot.ts";
import { CidrSet, hostFromAuthority, parseCidr } from "../../src/lib/net.ts";
import { resolveClientIp } from "../../src/proxy/client-ip.ts";
import { renderHeader } from "../../src/proxy/forward.ts";
import { Rng } from "../support/fuzz.ts";

/** Only these can appear in a host name or an IP literal (with an IPv6 zone). */
const SAFE = /^[A-Za-z0-9._:%-]*$/;
const PIECES = [
  "\r",
  "\n",
  "\r\n",
  "\0",
  " ",
  "\t",
  ":",
  "[",
  "]",
  "%",
  "::1",
  "fe80::1",
  "127.0.0.1",
  "a",
  ".",
  "-",
  "_",
  ",",
  ";",
  "=",
  '"',
  "for=",
  "\x7f",
  "\u00ff",
  "\u2028",
  "x-injected: 1",
];

function randomValue(rng: Rng): string {
  let out = "";
  const n = rng.int(8);
  for (let i = 0; i < n; i++) out += rng.chance(0.7) ? rng.pick(PIECES) : String.fromCharCode(rng.int(256));
  return out;
}

const trusted = new CidrSet([parseCidr("127.0.0.0/8")!, parseCidr("::1/128")!]);

describe("values of $host and $client_ip", () => {
  test("hostFromAuthority returns null or a value made of host and IP literal characters only, for 20,000 hostile inputs", () => {
    const rng = new Rng(7);
    const bad: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const authority = randomValue(rng);
      const host = hostFromAuthority(authority);
      if (host !== null && !SAFE.test(host)) bad.push(JSON.stringify(authority));
    }
    for (let c = 0; c < 256; c++) {
      for (const authority of [`a${String.fromCharCode(c)}b`, `[::1${String.fromCharCode(c)}]`, `a:8${String.fromCharCode(c)}`]) {
        const host = hostFromAuthority(authority);
        if (host !== null && !SAFE.test(host)) bad.push(JSON.stringify(authority));
      }
    }
    expect(bad).toEqual([]);
  });

  test("the client IP is the peer or an address that parses as an IP, for 20,000 hostile forwarding headers", () => {
    const rng = new Rng(8);
    const bad: string[] = [];
    const results = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const headers = new Headers();
      // A header value cannot hold CR, LF, NUL or characters above U+00FF; the other hostile bytes can.
      const value = randomValue(rng).replace(/[\r\n\0\u0100-\uffff]/g, "") + (rng.chance(0.5) ? ", 127.0.0.1" : "");
      headers.set(rng.chance(0.5) ? "x-forwarded-for" : "forwarded", rng.chance(0.5) ? value : `for=${value}`);
      const ip = resolveClientIp("127.0.0.1", headers, trusted);
      if (!SAFE.test(ip) || ip === "") bad.push(JSON.stringify(value));
      results.add(ip);
    }
    // Some inputs must have got through as client IPs, or the walk was never exercised.
    expect([bad, results.has("fe80::1"), results.size > 2]).toEqual([[], true, true]);
  });

  test("a headers {} value with $host and $client_ip renders without CR or LF", () => {
    const rule: HeaderRule = { name: "x-who", value: ["host=", HeaderVar.Host, " ip=", HeaderVar.ClientIp, " via ", HeaderVar.Scheme] };
    const rendered = renderHeader(rule, {
      host: hostFromAuthority("Shop.Example:8080")!,
      clientIp: resolveClientIp("127.0.0.1", new Headers({ "x-forwarded-for": "[2001:db8::1]:4711" }), trusted),
      scheme: "https",
    });
    expect(rendered).toBe("host=shop.example ip=2001:db8::1 via https");
  });
});
