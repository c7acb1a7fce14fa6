import { describe, expect, test } from "bun:test";
import { formatIssue, sortIssues } from "../../src/config/issues.ts";
import { validateSettingsText } from "../../src/config/load.ts";
import { defaultSettings } from "../../src/config/settings.ts";

const check = (text: string) => {
  const r = validateSettingsText(text, "config.toml");
  return { settings: r.settings, lines: sortIssues(r.issues).map(formatIssue) };
};

describe("config.toml", () => {
  test("a missing or empty file means every SPEC default", () => {
    const d = defaultSettings();
    expect([d.server.bind, d.server.https_port, d.server.worker_threads, d.tls.mode, d.tls.cache_dir]).toEqual([
      "0.0.0.0:8080",
      8443,
      "auto",
      "auto",
      "./certs",
    ]);
    expect([d.limits.keep_alive_timeout, d.limits.request_timeout, d.limits.max_request_size, d.limits.max_in_flight]).toEqual([10, 60, undefined, undefined]);
    expect([d.metrics.endpoint, d.metrics.allow, d.health.liveness_path, d.health.readiness_path]).toEqual([
      "/metrics",
      ["127.0.0.0/8", "::1/128"],
      "/health/live",
      "/health/ready",
    ]);
    expect([
      d.circuit_breaker.failure_threshold,
      d.circuit_breaker.recovery_timeout_secs,
      d.circuit_breaker.success_threshold,
      d.circuit_breaker.failure_status_codes,
    ]).toEqual([5, 30, 2, [502, 503, 504]]);
    expect([d.admin.enabled, d.admin.bind, d.auth.realm, d.auth.header, d.logging.format, d.logging.level]).toEqual([
      true,
      "127.0.0.1:9090",
      "Restricted",
      "X-Api-Key",
      "json",
      "info",
    ]);
    expect(check("").settings).toEqual(d);
  });

  test("unknown keys are warnings with their line, and the rest still applies", () => {
    const r = check(`[server]\nbind = "127.0.0.1:9000"\nbnid = "x"\n\n[colour]\nred = 1\n`);
    expect(r.lines).toEqual(["config.toml:3:1: warning: unknown key 'server.bnid' ignored", "config.toml:5:1: warning: unknown key 'colour' ignored"]);
    expect(r.settings?.server.bind).toBe("127.0.0.1:9000");
  });

  test("wrong types and values are errors naming line and column", () => {
    const r = check(`[server]\nhttps_port = "443"\n[limits]\n  keep_alive_timeout = 300\nmax_request_size = "ten"\n[logging]\noutput = "syslog"\n`);
    expect(r.settings).toBeNull();
    expect(r.lines).toEqual([
      "config.toml:2:1: error: Invalid input: expected number, received string",
      "config.toml:4:3: error: keep_alive_timeout must be 1-255",
      "config.toml:5:1: error: 'ten' is not a size (bytes, or like \"10MB\")",
      'config.toml:7:1: error: output must be "stdout", "stderr" or "file:<path>"',
    ]);
  });

  test("a syntax error is an error at its position, never a fall-back to defaults", () => {
    const r = check(`[server]\nbind = \n`);
    expect(r.settings).toBeNull();
    expect(r.lines.length).toBe(1);
    expect(r.lines[0]).toStartWith("config.toml:2:");
  });

  test("cross-field rules: rate limiting needs a rate, letsencrypt needs an email; choosing it agrees to the terms unless refused", () => {
    const r = check(`[rate_limiting]\nenabled = true\n[tls]\nmode = "letsencrypt"\n`);
    expect(r.lines).toEqual([
      "config.toml:1:1: error: requests_per_second is required when rate limiting is enabled",
      'config.toml:4:1: error: letsencrypt.email is required when tls.mode = "letsencrypt"',
    ]);
    const refused = check(`[tls]\nmode = "letsencrypt"\n[letsencrypt]\nemail = "a@b.c"\nterms_agreed = false\n`);
    expect([refused.settings, refused.lines]).toEqual([
      null,
      [
        'config.toml:5:1: error: letsencrypt.terms_agreed = false refuses the CA\'s terms, so no ACME account can be created: remove the key (choosing tls.mode = "letsencrypt" agrees to them) or use tls.mode = "auto"',
      ],
    ]);
    expect(check(`[tls]\nmode = "letsencrypt"\n[letsencrypt]\nemail = "a@b.c"\n`).settings?.letsencrypt.terms_agreed).toBe(true);
  });

  test("sizes accept bytes and KB/MB/GB in any case, and user tables accept any key", () => {
    const r = check(`[limits]\nmax_request_size = "10mb"\n[auth.users]\nanyone = "$2b$12$x"\n[auth.api_keys]\nci = "sha256:00"\n`);
    expect(r.lines).toEqual([]);
    expect(r.settings?.limits.max_request_size).toBe("10mb");
    expect(Object.keys(r.settings?.auth.users ?? {})).toEqual(["anyone"]);
  });
});
