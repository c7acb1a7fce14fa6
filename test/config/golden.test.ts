import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderCase, SEPARATOR } from "./golden.ts";

const dir = join(import.meta.dir, "cases");

describe("proxy.conf golden cases", () => {
  for (const name of readdirSync(dir)
    .filter((f) => f.endsWith(".conf"))
    .sort()) {
    test(`${name} parses to its recorded result`, () => {
      const text = readFileSync(join(dir, name), "utf8");
      const at = text.indexOf(SEPARATOR);
      const input = at < 0 ? text : text.slice(0, at + 1);
      const actual = renderCase(input);
      if (process.env.UPDATE_GOLDEN === "1") {
        writeFileSync(join(dir, name), input + SEPARATOR.slice(1) + actual);
        return;
      }
      expect(at).toBeGreaterThan(0);
      expect(actual).toBe(text.slice(at + SEPARATOR.length));
    });
  }
});
