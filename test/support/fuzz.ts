/**
 * Fuzzing helpers shared by the bounded fuzz runs in the test suite and bench/fuzz.ts: a seeded
 * random generator (a seed reproduces a run), random texts and mutations of valid seed inputs.
 * Mutations work on characters (random bytes, dictionary tokens, cut, duplicate, swap, extreme
 * numbers) so they reach both the line syntax and the values behind it.
 */

/** mulberry32: small, fast, good enough to explore inputs; not for anything secret. */
export class Rng {
  private state: number;
  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** Characters that matter to line-based and TOML syntax, plus the ones that break text handling. */
const SPECIAL = [
  "\n",
  "\r",
  "\r\n",
  "\t",
  " ",
  "\\",
  "#",
  "\0",
  "\x7f",
  "\u00e9",
  "\u2028",
  "\ufeff",
  "\ud800",
  "😀",
  '"',
  "'",
  "=",
  "[",
  "]",
  "{",
  "}",
  ":",
  ",",
  "$",
  "/",
  "*",
  "~",
  "@",
  "%",
  ".",
];
const NUMBERS = ["0", "-1", "65536", "255", "256", "1e309", "NaN", "9007199254740993", "0x1F", "007", "1_000", "-0", "inf", "99999999999999999999"];

/** A random text of up to `max` characters drawn from the dictionary, special characters and bytes. */
export function randomText(rng: Rng, dictionary: readonly string[], max = 200): string {
  let out = "";
  const target = rng.int(max);
  while (out.length < target) {
    const r = rng.next();
    if (r < 0.45) out += rng.pick(dictionary);
    else if (r < 0.7) out += rng.pick(SPECIAL);
    else if (r < 0.8) out += rng.pick(NUMBERS);
    else out += String.fromCharCode(rng.int(r < 0.95 ? 128 : 0x10000));
  }
  return out;
}

/** One to four random edits of `text`. */
export function mutate(rng: Rng, text: string, dictionary: readonly string[]): string {
  let out = text;
  const edits = 1 + rng.int(4);
  for (let e = 0; e < edits; e++) {
    const at = rng.int(out.length + 1);
    const len = rng.int(Math.min(40, out.length - at) + 1);
    switch (rng.int(10)) {
      case 0: // delete a range
        out = out.slice(0, at) + out.slice(at + len);
        break;
      case 1: // duplicate a range
        out = out.slice(0, at + len) + out.slice(at, at + len) + out.slice(at + len);
        break;
      case 2: // insert a dictionary token
        out = out.slice(0, at) + rng.pick(dictionary) + out.slice(at);
        break;
      case 3: // insert a special character
        out = out.slice(0, at) + rng.pick(SPECIAL) + out.slice(at);
        break;
      case 4: // replace a number with an extreme one
        out = out.replace(/\d+/, () => rng.pick(NUMBERS));
        break;
      case 5: // swap two lines
      case 6: {
        const lines = out.split("\n");
        const i = rng.int(lines.length);
        const j = rng.int(lines.length);
        [lines[i], lines[j]] = [lines[j]!, lines[i]!];
        out = lines.join("\n");
        break;
      }
      case 7: // repeat a line many times
        {
          const lines = out.split("\n");
          const i = rng.int(lines.length);
          lines.splice(i, 0, ...Array(1 + rng.int(50)).fill(lines[i] ?? ""));
          out = lines.join("\n");
        }
        break;
      case 8: // truncate
        out = out.slice(0, at);
        break;
      default: // overwrite one character with a random one
        out = out.slice(0, at) + String.fromCharCode(rng.int(256)) + out.slice(at + 1);
    }
  }
  return out;
}

export interface FuzzStats {
  inputs: number;
  /** Inputs that validated (and compiled). */
  valid: number;
  /** Inputs refused with errors that all carry file and line. */
  refused: number;
  /** Property violations: a throw, or an error without a line; each with the input that caused it. */
  failures: { input: string; problem: string }[];
  /** The slowest single input, in milliseconds, and its length. */
  slowestMs: number;
  slowestLength: number;
}

/**
 * Runs `check` on `count` inputs: a third fully random, the rest mutations of the seeds. `check`
 * returns "valid", "refused" or a problem description; a throw is a failure too.
 */
export function fuzz(opts: {
  seed: number;
  count: number;
  seeds: readonly string[];
  dictionary: readonly string[];
  check: (input: string) => "valid" | "refused" | string;
}): FuzzStats {
  const rng = new Rng(opts.seed);
  const stats: FuzzStats = { inputs: 0, valid: 0, refused: 0, failures: [], slowestMs: 0, slowestLength: 0 };
  for (let i = 0; i < opts.count; i++) {
    const input = rng.chance(0.33) ? randomText(rng, opts.dictionary) : mutate(rng, rng.pick(opts.seeds), opts.dictionary);
    const started = performance.now();
    let outcome: string;
    try {
      outcome = opts.check(input);
    } catch (err) {
      outcome = `threw ${(err as Error)?.stack ?? String(err)}`;
    }
    const ms = performance.now() - started;
    if (ms > stats.slowestMs) {
      stats.slowestMs = ms;
      stats.slowestLength = input.length;
    }
    stats.inputs++;
    if (outcome === "valid") stats.valid++;
    else if (outcome === "refused") stats.refused++;
    else stats.failures.push({ input, problem: outcome });
  }
  return stats;
}
