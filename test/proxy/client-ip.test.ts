import { describe, expect, test } from "bun:test";
import { CidrSet, hostFromAuthority, parseCidr, type Cidr } from "../../src/lib/net.ts";
import { resolveClientIp } from "../../src/proxy/client-ip.ts";

const trusted = (...list: string[]) => new CidrSet(list.map((c) => parseCidr(c)).filter((c): c is Cidr => c !== null));
const ip = (peer: string, headers: Record<string, string>, t: CidrSet) => resolveClientIp(peer, new Headers(headers), t);

describe("client IP (SPEC §5.5)", () => {
  test("an untrusted peer's forwarding headers are ignored", () => {
    expect(ip("203.0.113.9", { "x-forwarded-for": "1.1.1.1" }, trusted("10.0.0.0/8"))).toBe("203.0.113.9");
  });
  test("a trusted peer's chain is walked from the right past trusted hops", () => {
    expect(ip("10.0.0.2", { "x-forwarded-for": "198.51.100.7, 10.0.0.9, 10.0.0.5" }, trusted("10.0.0.0/8"))).toBe("198.51.100.7");
  });
  test("when every hop is trusted the leftmost is the client", () => {
    expect(ip("10.0.0.2", { "x-forwarded-for": "10.1.1.1, 10.0.0.9" }, trusted("10.0.0.0/8"))).toBe("10.1.1.1");
  });
  test("an unparsable entry ends the walk at the peer", () => {
    expect(ip("10.0.0.2", { "x-forwarded-for": "198.51.100.7, garbage, 10.0.0.9" }, trusted("10.0.0.0/8"))).toBe("10.0.0.2");
  });
  test("Forwarded for= values are used when X-Forwarded-For is absent, with ports and brackets removed", () => {
    expect(ip("::1", { forwarded: 'for=192.0.2.60;proto=http, for="[2001:db8::17]:4711"' }, trusted("::1/128"))).toBe("2001:db8::17");
  });
  test("IPv4-mapped addresses compare as plain IPv4", () => {
    expect(trusted("127.0.0.0/8").has("::ffff:127.0.0.1")).toBe(true);
  });
});

describe("Host header parsing", () => {
  test("port and brackets are removed and the host lower-cased; junk is refused", () => {
    expect(["Example.COM:8443", "[::1]:8443", "[::1]", "a_b.test", "bad host", "x:99999999", "[zz]", "h:", ""].map(hostFromAuthority)).toEqual([
      "example.com",
      "::1",
      "::1",
      "a_b.test",
      null,
      null,
      null,
      null,
      null,
    ]);
  });
});
