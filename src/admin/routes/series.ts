/**
 * The per-second traffic series of the last 15 minutes (SPEC §18, state/series.ts): as JSON, and
 * as an SSE stream that starts with the whole series (`event: series`) and then sends each new
 * point (`event: point`) every second.
 */
import { ok } from "../envelope.ts";
import type { AdminPort, SeriesProvider } from "../port.ts";
import { sseResponse } from "../sse.ts";
import { need, type AdminApp } from "./common.ts";

const UNAVAILABLE = "the metrics series is not available in this build";

export function seriesRoutes(api: AdminApp, port: AdminPort): void {
  const series = (): SeriesProvider => need(port.series, UNAVAILABLE);

  api.get("/metrics/series", (c) => ok(c, series().points()));

  api.get("/events/metrics", (c) => {
    const provider = series();
    return sseResponse(c, (sink) => {
      sink.send(provider.points(), "series");
      return provider.subscribe((point) => sink.send(point, "point"));
    });
  });
}
