/** Number formats shared by the TUI screens; "—" stands for unknown everywhere. */

export const UNKNOWN = "—";

/** A latency in seconds as `850 µs`, `3.2 ms`, `41 ms`, `1.25 s`. */
export function latency(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return UNKNOWN;
  if (seconds < 0.001) return `${Math.round(seconds * 1e6)} µs`;
  if (seconds < 0.01) return `${(seconds * 1000).toFixed(1)} ms`;
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  return `${seconds.toFixed(2)} s`;
}

/** An uptime as its two largest units: `3d 4h`, `2h 5m`, `5m 3s`, `12s`. */
export function uptime(totalSeconds: number | null): string {
  if (totalSeconds === null || !Number.isFinite(totalSeconds) || totalSeconds < 0) return UNKNOWN;
  const s = Math.floor(totalSeconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** Bytes in binary units: `512 B`, `1.5 KiB`, `12.0 MiB`. */
export function bytes(n: number | null): string {
  if (n === null || !Number.isFinite(n)) return UNKNOWN;
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** An integer with thousands separators: `12,345`. */
export function count(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** A rate with one decimal below 100: `0.0`, `12.5`, `340`. */
export function rate(perSecond: number | null): string {
  if (perSecond === null || !Number.isFinite(perSecond)) return UNKNOWN;
  return perSecond < 100 ? perSecond.toFixed(1) : String(Math.round(perSecond));
}

export function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}

/** `text` cut to `width` columns with an ellipsis, or padded with spaces to exactly `width`. */
export function fit(text: string, width: number): string {
  if (width <= 0) return "";
  if (text.length > width) return width === 1 ? "…" : text.slice(0, width - 1) + "…";
  return text.padEnd(width);
}
