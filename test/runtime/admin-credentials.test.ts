import { describe, expect, test } from "bun:test";
import { parseDotEnv } from "../../src/runtime/admin-credentials.ts";

describe(".env beside proxy.conf (SPEC §11.1)", () => {
  test("reads KEY=value lines with export prefixes, quotes and comments", () => {
    expect(parseDotEnv("# admin\nexport ADMIN_USER=ops\nADMIN_PASSWORD = \"a b=c\"\nEMPTY=\nbroken line\nQ='x'\n")).toEqual({
      ADMIN_USER: "ops",
      ADMIN_PASSWORD: "a b=c",
      EMPTY: "",
      Q: "x",
    });
  });
});
