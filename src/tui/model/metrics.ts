/**
 * Prometheus text format 0.0.4 (SPEC §10) → samples, for the TUI's dashboard. Tolerant: a line
 * it cannot read is skipped, so a newer proxy with more families still shows what this one knows.
 */

export interface Sample {
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
}

/** Every sample line of a metrics page, in page order; comments and unreadable lines are left out. */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const sample = parseSampleLine(line);
    if (sample) out.push(sample);
  }
  return out;
}

const NAME = /^[A-Za-z_:][A-Za-z0-9_:]*/;

function parseSampleLine(line: string): Sample | null {
  const name = NAME.exec(line)?.[0];
  if (!name) return null;
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === "{") {
    i++;
    for (;;) {
      while (line[i] === " " || line[i] === ",") i++;
      if (line[i] === "}") {
        i++;
        break;
      }
      const key = NAME.exec(line.slice(i))?.[0];
      if (!key || line[i + key.length] !== "=" || line[i + key.length + 1] !== '"') return null;
      i += key.length + 2;
      let value = "";
      for (;;) {
        const c = line[i];
        if (c === undefined) return null;
        i++;
        if (c === '"') break;
        if (c === "\\") {
          const next = line[i++];
          value += next === "n" ? "\n" : (next ?? "");
        } else value += c;
      }
      labels[key] = value;
    }
  }
  // The value, then an optional timestamp this reader ignores.
  const valueText = line.slice(i).trim().split(/\s+/)[0] ?? "";
  const value = parseValue(valueText);
  return value === null ? null : { name, labels, value };
}

function parseValue(text: string): number | null {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  if (text === "" || !/^[-+]?[0-9.eE+-]+$/.test(text)) return null;
  const n = Number(text);
  return Number.isNaN(n) ? null : n;
}

/** The sum of every sample of `name` (over all label sets); 0 when there is none. */
export function total(samples: readonly Sample[], name: string): number {
  let sum = 0;
  for (const s of samples) if (s.name === name) sum += s.value;
  return sum;
}

/** Samples of `name` summed by the value of one label. */
export function byLabel(samples: readonly Sample[], name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    if (s.name !== name) continue;
    const key = s.labels[label] ?? "";
    out.set(key, (out.get(key) ?? 0) + s.value);
  }
  return out;
}

/** A histogram summed over every label set but `le`: cumulative counts per upper bound, ascending. */
export interface Histogram {
  /** Upper bounds in seconds, ascending, `Infinity` last. */
  bounds: number[];
  /** Cumulative counts, one per bound. */
  counts: number[];
  sum: number;
  count: number;
}

export function histogram(samples: readonly Sample[], name: string): Histogram {
  const pairs = [...byLabel(samples, `${name}_bucket`, "le")]
    .map(([le, count]) => [le === "+Inf" ? Infinity : Number(le), count] as const)
    .filter(([bound]) => !Number.isNaN(bound))
    .sort((a, b) => a[0] - b[0]);
  return {
    bounds: pairs.map(([bound]) => bound),
    counts: pairs.map(([, count]) => count),
    sum: total(samples, `${name}_sum`),
    count: total(samples, `${name}_count`),
  };
}

/** `later - earlier`, bucket by bucket; a counter reset (proxy restarted) yields `later` itself. */
export function histogramDelta(later: Histogram, earlier: Histogram): Histogram {
  const sameBounds = later.bounds.length === earlier.bounds.length && later.bounds.every((b, i) => b === earlier.bounds[i]);
  if (!sameBounds || later.count < earlier.count) return later;
  return {
    bounds: later.bounds,
    counts: later.counts.map((c, i) => c - (earlier.counts[i] ?? 0)),
    sum: later.sum - earlier.sum,
    count: later.count - earlier.count,
  };
}

/**
 * The q-quantile (0..1) of a histogram in seconds, interpolated linearly inside the bucket that
 * holds it (the way Prometheus' histogram_quantile does); null without observations. A quantile
 * in the +Inf bucket is reported as the largest finite bound.
 */
export function quantile(h: Histogram, q: number): number | null {
  const count = h.counts[h.counts.length - 1] ?? 0;
  if (count <= 0) return null;
  const rank = q * count;
  for (let i = 0; i < h.bounds.length; i++) {
    const cumulative = h.counts[i]!;
    if (cumulative < rank) continue;
    const upper = h.bounds[i]!;
    const lower = i === 0 ? 0 : h.bounds[i - 1]!;
    if (upper === Infinity) return lower;
    const below = i === 0 ? 0 : h.counts[i - 1]!;
    const inBucket = cumulative - below;
    if (inBucket <= 0) return upper;
    return lower + (upper - lower) * ((rank - below) / inBucket);
  }
  return h.bounds.filter((b) => b !== Infinity).pop() ?? null;
}
