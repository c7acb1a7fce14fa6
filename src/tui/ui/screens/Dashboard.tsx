/** Dashboard (SPEC §16.5 screen 1): totals, req/s sparkline, latency, status mix, uptime. */
import { Box, Text } from "ink";
import type { FeedState } from "../../data/feed.ts";
import * as fmt from "../../model/format.ts";
import { rates, sparkline, statusMix, windowLatency } from "../../model/traffic.ts";
import { Body, Empty } from "../widgets.tsx";

const MIX_COLOR: Record<string, string> = { "1xx": "gray", "2xx": "green", "3xx": "cyan", "4xx": "yellow", "5xx": "red" };
const LABEL = 14;

export function Dashboard({ state, width, height }: { state: FeedState; width: number; height: number }) {
  const newest = state.traffic[state.traffic.length - 1];
  if (!newest) {
    return (
      <Body height={height}>
        <Empty>{state.badge === "OK" || state.badge === "Connecting" ? "Waiting for the first metrics…" : "No figures: the proxy is not reachable."}</Empty>
      </Body>
    );
  }
  const perSecond = rates(state.traffic.map((s) => ({ at: s.at, value: s.requests })));
  const current = perSecond.length > 0 ? perSecond[perSecond.length - 1]! : null;
  const peak = perSecond.length > 0 ? Math.max(...perSecond.slice(-60)) : null;
  const latency = windowLatency(state.traffic);
  const mix = statusMix(newest.statusCodes);
  const barWidth = Math.max(10, Math.min(40, width - LABEL - 30));
  const sparkWidth = Math.max(10, width - LABEL - 2);
  const status = state.status;
  const label = (text: string) => <Text bold>{text.padEnd(LABEL)}</Text>;
  return (
    <Body height={height}>
      {state.badge !== "OK" && (
        <Text wrap="truncate" color="yellow">
          {`Figures as last seen at ${new Date(newest.at).toTimeString().slice(0, 8)}: the proxy is ${state.badge.toLowerCase()}.`}
        </Text>
      )}
      <Text wrap="truncate">
        {label("Requests")}
        <Text color="cyanBright">{fmt.count(newest.requests)}</Text> total in flight <Text color="cyanBright">{fmt.count(newest.inFlight)}</Text> now{" "}
        <Text color="cyanBright">{fmt.rate(current)}</Text> req/s peak {fmt.rate(peak)} req/s (60 s)
      </Text>
      <Text wrap="truncate">
        {label("req/s")}
        <Text color="cyan">{sparkline(perSecond, sparkWidth)}</Text>
      </Text>
      <Text wrap="truncate" color="gray">
        {" ".repeat(LABEL)}one bar per second, newest on the right, scaled to the highest shown
      </Text>
      <Text wrap="truncate">
        {label("Latency")}p50 <Text color="cyanBright">{fmt.latency(latency.p50)}</Text> p90 <Text color="cyanBright">{fmt.latency(latency.p90)}</Text> p99{" "}
        <Text color="cyanBright">{fmt.latency(latency.p99)}</Text> mean {fmt.latency(latency.mean)} over the last {Math.round(latency.windowMs / 1000)} s (
        {fmt.count(latency.count)} requests)
      </Text>
      <Text wrap="truncate">
        {" ".repeat(LABEL)}mean since start <Text color="cyanBright">{fmt.latency(newest.meanSeconds)}</Text>
      </Text>
      <Text> </Text>
      {mix.map((m) => (
        <Text key={m.group} wrap="truncate">
          {label(m.group === "1xx" ? "Status mix" : "")}
          <Text color={MIX_COLOR[m.group]}>{m.group}</Text>{" "}
          <Text color={MIX_COLOR[m.group]}>{"█".repeat(Math.round(m.share * barWidth)).padEnd(barWidth, "·")}</Text> {fmt.percent(m.share).padStart(6)}{" "}
          {fmt.count(m.count)}
        </Text>
      ))}
      <Text> </Text>
      <Text wrap="truncate">
        {label("Traffic")}in {fmt.bytes(newest.bytesIn)} out {fmt.bytes(newest.bytesOut)} proxy errors{" "}
        <Text color={newest.errors > 0 ? "red" : undefined}>{fmt.count(newest.errors)}</Text> TLS connections {fmt.count(newest.tlsConnections)}
      </Text>
      {status && (
        <Box flexDirection="column">
          <Text wrap="truncate">
            {label("Proxy")}v{status.version} up <Text color="cyanBright">{fmt.uptime(status.uptime_secs)}</Text> config v{status.config_version}{" "}
            {status.route_count} routes {status.app_count} apps
          </Text>
          <Text wrap="truncate">
            {label("Listeners")}http {status.bind} https {status.https_port ?? "off"} ({status.tls_mode}) admin {status.admin_bind ?? "off"}
          </Text>
          {state.cluster?.enabled && (
            <Text wrap="truncate">
              {label("Cluster")}
              {state.cluster.name} redis <Text color={state.cluster.redis === "up" ? "green" : "red"}>{state.cluster.redis}</Text>{" "}
              {state.cluster.members.filter((m) => !m.gone).length} members:{" "}
              {state.cluster.members.map((m) => (
                <Text key={m.node_id} color={m.gone ? "gray" : m.last_reload_error ? "red" : undefined}>
                  {`${m.node_id}${m.node_id === state.cluster?.self ? "*" : ""} (cfg v${m.config_version}${m.gone ? ", gone" : ""})  `}
                </Text>
              ))}
            </Text>
          )}
          {status.last_reload_error && (
            <Text wrap="truncate" color="red">
              {label("Last reload")}
              {status.last_reload_error}
            </Text>
          )}
        </Box>
      )}
    </Body>
  );
}
