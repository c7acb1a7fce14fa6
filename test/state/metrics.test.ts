import { describe, expect, test } from "bun:test";
import { label, Metrics, num } from "../../src/state/metrics.ts";
import { promtool, SPEC_NAME_LINTS } from "../support/promtool.ts";
import { requestSample } from "../support/samples.ts";

const sample = requestSample;

describe("metrics registry (SPEC §10)", () => {
  test("families come in SPEC order, each with its HELP and TYPE", () => {
    const text = new Metrics().render(0);
    const families = [...text.matchAll(/^# HELP (\S+) (.*)\n# TYPE \1 (\w+)$/gm)].map((m) => [m[1], m[3], m[2]]);
    expect(families).toEqual([
      ["proxy_requests_total", "counter", "Total number of HTTP requests"],
      ["proxy_requests_in_flight", "gauge", "Number of requests currently being processed"],
      ["proxy_bytes_received", "counter", "Total bytes received from clients"],
      ["proxy_bytes_sent", "counter", "Total bytes sent to clients"],
      ["proxy_response_time_seconds", "gauge", "Average response time in seconds"],
      ["proxy_tls_connections_total", "counter", "Total number of TLS connections"],
      ["proxy_errors_total", "counter", "Total number of proxy errors"],
      ["proxy_response_status_codes_total", "counter", "HTTP response status codes"],
      ["proxy_request_duration_seconds", "histogram", "Request duration in seconds"],
      ["proxy_upstream_requests_total", "counter", "Responses received from upstreams"],
      ["proxy_upstream_errors_total", "counter", "Transport errors talking to upstreams"],
      ["proxy_config_reloads_total", "counter", "Configuration reload attempts"],
      ["proxy_certificate_expiry_timestamp_seconds", "gauge", "Certificate notAfter as a Unix time"],
    ]);
    expect(text).not.toContain("proxy_response_status_codes_total{");
    expect(text).toContain("proxy_response_time_seconds 0\n");
  });

  test("records totals, sorted status codes, proxy errors and per-upstream counters", () => {
    const m = new Metrics();
    m.record(sample({ status: 404 }));
    m.record(sample({ status: 200, seconds: 0.2 }));
    m.record(sample({ status: 502, relayed: false, transportError: true, bytesIn: 0, bytesOut: 11 }));
    m.record(sample({ route: "none", upstream: null, status: 421, relayed: false, bytesIn: 0, bytesOut: 19 }));
    const text = m.render(3);
    const lines = (prefix: string) => text.split("\n").filter((l) => l.startsWith(prefix));
    expect({
      total: lines("proxy_requests_total "),
      inFlight: lines("proxy_requests_in_flight "),
      received: lines("proxy_bytes_received "),
      sent: lines("proxy_bytes_sent "),
      errors: lines("proxy_errors_total "),
      codes: lines("proxy_response_status_codes_total{"),
      upstream: lines("proxy_upstream_requests_total{"),
      upstreamErrors: lines("proxy_upstream_errors_total{"),
    }).toEqual({
      total: ["proxy_requests_total 4"],
      inFlight: ["proxy_requests_in_flight 3"],
      received: ["proxy_bytes_received 20"],
      sent: ["proxy_bytes_sent 230"],
      errors: ["proxy_errors_total 1"],
      codes: [
        'proxy_response_status_codes_total{code="200"} 1',
        'proxy_response_status_codes_total{code="404"} 1',
        'proxy_response_status_codes_total{code="421"} 1',
        'proxy_response_status_codes_total{code="502"} 1',
      ],
      upstream: [
        'proxy_upstream_requests_total{upstream="http://10.0.0.1:8080",code="200"} 1',
        'proxy_upstream_requests_total{upstream="http://10.0.0.1:8080",code="404"} 1',
      ],
      upstreamErrors: ['proxy_upstream_errors_total{upstream="http://10.0.0.1:8080"} 1'],
    });
  });

  test("the duration histogram is cumulative per route and upstream with the SPEC buckets", () => {
    const m = new Metrics();
    for (const s of [0.0005, 0.003, 0.003, 0.2, 12]) m.record(sample({ seconds: s }));
    m.record(sample({ route: "internal", upstream: null, seconds: 0.0001, relayed: false }));
    const buckets = m
      .render(0)
      .split("\n")
      .filter((l) => l.startsWith('proxy_request_duration_seconds_bucket{route="/api/*"'));
    expect(buckets.map((l) => [/le="([^"]+)"/.exec(l)![1], Number(l.split(" ").pop())])).toEqual([
      ["0.001", 1],
      ["0.005", 3],
      ["0.01", 3],
      ["0.025", 3],
      ["0.05", 3],
      ["0.1", 3],
      ["0.25", 4],
      ["0.5", 4],
      ["1", 4],
      ["2.5", 4],
      ["5", 4],
      ["10", 4],
      ["+Inf", 5],
    ]);
    const text = m.render(0);
    expect(text).toContain('proxy_request_duration_seconds_count{route="/api/*",upstream="http://10.0.0.1:8080"} 5\n');
    expect(text).toContain('proxy_request_duration_seconds_sum{route="/api/*",upstream="http://10.0.0.1:8080"} 12.2065\n');
    expect(text).toContain('proxy_request_duration_seconds_count{route="internal",upstream="none"} 1\n');
  });

  test("numbers are plain decimals, never exponent form, and label values are escaped", () => {
    expect([num(0), num(12), num(1e21), num(2.5e-7), num(0.1 + 0.2), num(123456789012), num(1 / 3)]).toEqual([
      "0",
      "12",
      "1000000000000000000000",
      "0.00000025",
      "0.30000000000000004",
      "123456789012",
      "0.3333333333333333",
    ]);
    expect(label('~^/a\\d+"x"\n')).toBe('~^/a\\\\d+\\"x\\"\\n');
    const m = new Metrics();
    m.record(sample({ seconds: 1e-7 }));
    expect(m.render(0)).not.toMatch(/\de[-+]?\d/);
  });

  test("reloads, TLS connections and the certificate inventory are reported", () => {
    const m = new Metrics();
    m.configReload(true);
    m.configReload(true);
    m.configReload(false);
    m.tlsRequest("127.0.0.1", 5000);
    m.tlsRequest("127.0.0.1", 5000);
    m.tlsRequest("127.0.0.1", 5001);
    m.certificates = () => [
      { name: "example.com", notAfter: new Date("2030-01-01T00:00:00Z") },
      { name: "*.b.test", notAfter: 1_900_000_000_500 },
    ];
    const text = m.render(0);
    expect(text.split("\n").filter((l) => /^proxy_(config_reloads|tls_connections|certificate_expiry)/.test(l))).toEqual([
      "proxy_tls_connections_total 2",
      'proxy_config_reloads_total{result="success"} 2',
      'proxy_config_reloads_total{result="failure"} 1',
      'proxy_certificate_expiry_timestamp_seconds{name="example.com"} 1893456000',
      'proxy_certificate_expiry_timestamp_seconds{name="*.b.test"} 1900000000',
    ]);
  });

  test("Prometheus' own parser (promtool) accepts the output", async () => {
    const m = new Metrics();
    m.record(sample());
    m.record(sample({ route: "~^/users/(\\d+)$", status: 503, relayed: false, transportError: true, seconds: 1e-7 }));
    m.configReload(false);
    m.certificates = () => [{ name: "a.test", notAfter: Date.now() }];
    const result = await promtool(m.render(1));
    if (result === null) {
      console.warn("promtool not installed (Debian package prometheus): skipped");
      return;
    }
    // Exit 3 means "lint problems only"; a parse error is exit 1 with "parsing error".
    expect({ code: result.code === 3 ? 0 : result.code, lines: result.output.split("\n") }).toEqual({ code: 0, lines: SPEC_NAME_LINTS });
    // and it does catch a malformed line
    const broken = await promtool(m.render(1).replace('result="failure"}', 'result="failure}'));
    expect(broken?.code).toBe(1);
  });
});
