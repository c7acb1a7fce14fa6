import { describe, expect, test } from "bun:test";
import { formatIssue } from "../../src/config/issues.ts";
import { validateSettingsText } from "../../src/config/load.ts";

describe("[limits] warnings", () => {
  test("a keep_alive_timeout under 5 s is accepted with a warning that says why it is unreliable", () => {
    const low = validateSettingsText("[limits]\nkeep_alive_timeout = 2\n", "config.toml");
    const fine = validateSettingsText("[limits]\nkeep_alive_timeout = 5\n", "config.toml");
    expect([low.settings?.limits.keep_alive_timeout, low.issues.map(formatIssue), fine.issues]).toEqual([
      2,
      [
        "config.toml:2:1: warning: keep_alive_timeout below 5 s is unreliable: idle connections are checked every 4 s and busy keep-alive connections may be closed under their clients; use 5 or more",
      ],
      [],
    ]);
  });
});
