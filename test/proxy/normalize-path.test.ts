import { describe, expect, test } from "bun:test";
import { normalizePath } from "../../src/proxy/normalize-path.ts";

// [raw path, normalised path or null for 400] with allow_encoded_slashes = false (SPEC §5.3).
const STRICT: [string, string | null][] = [
  ["/", "/"],
  ["/auth/x", "/auth/x"],
  ["/a/b/", "/a/b/"],
  ["//auth/x", "/auth/x"],
  ["/auth//x", "/auth/x"],
  ["///", "/"],
  ["/a//", "/a/"],
  ["/%61uth/x", "/auth/x"],
  ["/%41%5a%30%2D%2e%5f%7E", "/AZ0-._~"],
  ["/a%3bb", "/a%3Bb"],
  ["/a%3Fb%20c", "/a%3Fb%20c"],
  ["/caf%c3%a9", "/caf%C3%A9"],
  ["/auth%2fx", null],
  ["/auth%2Fx", null],
  ["/auth%5cx", null],
  ["/auth\\x", null],
  ["/static/..%2fauth/x", null],
  ["/static/%2e%2e/auth/x", "/auth/x"],
  ["/static/%2E./auth/x", "/auth/x"],
  ["/static/./auth", "/static/auth"],
  ["/a/b/..", "/a/"],
  ["/a/b/.", "/a/b/"],
  ["/../../x", "/x"],
  ["/..", "/"],
  ["/.hidden/x", "/.hidden/x"],
  ["/a/..b/c", "/a/..b/c"],
  ["/a/...", "/a/..."],
  ["/static/..;/auth/x", null],
  ["/static/.;x/auth", null],
  ["/static/%2e%2e;x/auth", null],
  ["/a;jsessionid=1/b", "/a;jsessionid=1/b"],
  ["/bad%zz", null],
  ["/bad%", null],
  ["/bad%4", null],
  ["", null],
  ["*", null],
];

// Where allow_encoded_slashes = true differs: the escape stays (upper case), never a separator.
const ALLOW: [string, string | null][] = [
  ["/auth%2fx", "/auth%2Fx"],
  ["/a%5Cb", "/a%5Cb"],
  ["/a\\b", "/a%5Cb"],
  ["/static/..%2fauth/x", "/static/..%2Fauth/x"],
  ["/static/..;/auth/x", null],
  ["//x%2f/../y", "/y"],
];

describe("normalizePath", () => {
  test.each(STRICT)("%p becomes %p when encoded slashes are refused", (raw, expected) => {
    expect(normalizePath(raw, false)).toBe(expected);
  });
  test.each(ALLOW)("%p becomes %p when encoded slashes are allowed", (raw, expected) => {
    expect(normalizePath(raw, true)).toBe(expected);
  });
  test("a path with nothing to normalise is returned as the same string", () => {
    const raw = "/api/v1/users/42";
    expect(normalizePath(raw, false)).toBe(raw);
  });
  test("normalising twice changes nothing", () => {
    for (const [raw] of [...STRICT, ...ALLOW]) {
      const once = normalizePath(raw, true);
      if (once !== null) expect(normalizePath(once, true)).toBe(once);
    }
  });
});
