/** Byte sizes in config: an integer, or a string like "10MB" (KB/MB/GB = 1024ⁿ, case-insensitive). */
const UNITS: Record<string, number> = { "": 1, b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

export function parseSize(value: number | string): number | null {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? value : null;
  const m = /^\s*(\d+)\s*([a-zA-Z]*)\s*$/.exec(value);
  if (!m) return null;
  const unit = UNITS[(m[2] ?? "").toLowerCase()];
  if (unit === undefined) return null;
  const n = Number(m[1]) * unit;
  return Number.isSafeInteger(n) ? n : null;
}
