import { describe, expect, test } from "bun:test";
import { defaultSettings } from "../../src/config/settings.ts";
import { keepRestartOnly } from "../../src/runtime/restart-settings.ts";

describe("settings a reload cannot apply (SPEC §13)", () => {
  test("restart-only keys keep their running values and are named; the rest apply", () => {
    const running = defaultSettings();
    const next = defaultSettings();
    next.server.bind = "0.0.0.0:9999";
    next.server.trusted_proxies = ["10.0.0.0/8"];
    next.admin.bind = "127.0.0.1:1";
    next.admin.api_key = "new";
    next.tls.mode = "letsencrypt";
    next.tls.force_https = true;
    next.letsencrypt.email = "ops@example.com";
    next.logging.format = "text";
    next.logging.level = "debug";
    next.rate_limiting.backend = "redis";
    next.rate_limiting.redis_url = "redis://localhost";
    next.rate_limiting.enabled = true;
    next.rate_limiting.requests_per_second = 5;
    const { settings, changed } = keepRestartOnly(running, next);
    expect(changed.sort()).toEqual([
      "admin.bind",
      "letsencrypt.email",
      "logging.format",
      "rate_limiting.backend",
      "rate_limiting.redis_url",
      "server.bind",
      "server.trusted_proxies",
      "tls.mode",
    ]);
    expect([
      settings.server.bind,
      settings.server.trusted_proxies,
      settings.admin.bind,
      settings.tls.mode,
      "email" in settings.letsencrypt,
      settings.logging.format,
      settings.rate_limiting.backend,
      "redis_url" in settings.rate_limiting,
      settings.admin.api_key,
      settings.tls.force_https,
      settings.logging.level,
      settings.rate_limiting.requests_per_second,
    ]).toEqual(["0.0.0.0:8080", [], "127.0.0.1:9090", "auto", false, "json", "memory", false, "new", true, "debug", 5]);
  });

  test("identical settings report nothing", () => {
    expect(keepRestartOnly(defaultSettings(), defaultSettings()).changed).toEqual([]);
  });
});
