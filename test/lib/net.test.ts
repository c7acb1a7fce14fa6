import { describe, expect, test } from "bun:test";
import { formatAuthority } from "../../src/lib/net.ts";

describe("formatAuthority", () => {
  test("puts IPv6 literals in brackets and adds the port when given", () => {
    expect([
      formatAuthority("127.0.0.1", 8080),
      formatAuthority("::1", 8080),
      formatAuthority("::", 0),
      formatAuthority("example.com"),
      formatAuthority("2001:db8::1"),
    ]).toEqual(["127.0.0.1:8080", "[::1]:8080", "[::]:0", "example.com", "[2001:db8::1]"]);
  });
});
