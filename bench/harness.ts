/**
 * A tiny benchmark harness: warm up, then several timed runs, each made of
 * whole batches until it has lasted long enough, and report the median.
 */

/** One batch: how many operations it did and how long the timed part took. */
export interface Sample {
  readonly ops: number;
  readonly ns: number;
}

export interface MeasureOptions {
  /** Warm-up time in milliseconds (results thrown away). */
  warmupMs?: number;
  /** Timed runs; the median is reported. */
  runs?: number;
  /** Least duration of each timed run, in milliseconds. */
  runMs?: number;
}

export interface Measurement {
  /** Median operations per second over the runs. */
  readonly perSecond: number;
  /** Median nanoseconds per operation over the runs. */
  readonly nsPerOp: number;
  /** Every run's operations per second, in run order. */
  readonly runs: readonly number[];
  /** Operations counted over all timed runs. */
  readonly ops: number;
}

export const DEFAULTS: Required<MeasureOptions> = { warmupMs: 200, runs: 5, runMs: 300 };

/** Times a whole batch: `fn` does the work and returns how many operations it did. */
export function timed(fn: () => number): () => Sample {
  return () => {
    const start = process.hrtime.bigint();
    const ops = fn();
    return { ops, ns: Number(process.hrtime.bigint() - start) };
  };
}

/** Starts a clock; the returned function gives the nanoseconds since. */
export function clock(): () => number {
  const start = process.hrtime.bigint();
  return () => Number(process.hrtime.bigint() - start);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** One run: batches until `ms` of wall time have passed; returns ops and timed ns. */
function run(batch: () => Sample, ms: number): Sample {
  const until = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
  let ops = 0;
  let ns = 0;
  do {
    const sample = batch();
    ops += sample.ops;
    ns += sample.ns;
  } while (process.hrtime.bigint() < until);
  return { ops, ns };
}

export function measure(batch: () => Sample, options: MeasureOptions = {}): Measurement {
  return measureAll([batch], options)[0]!;
}

/**
 * Measures several benchmarks whose runs alternate (A B A B ...), so that a
 * noisy moment hits them alike and their runs can be compared pairwise.
 */
export function measureAll(
  batches: readonly (() => Sample)[],
  options: MeasureOptions = {},
): Measurement[] {
  const { warmupMs, runs, runMs } = { ...DEFAULTS, ...options };
  for (const batch of batches) run(batch, warmupMs);
  const rates = batches.map((): number[] => []);
  const ops = batches.map(() => 0);
  for (let i = 0; i < runs; i++) {
    batches.forEach((batch, j) => {
      const sample = run(batch, runMs);
      ops[j]! += sample.ops;
      rates[j]!.push((sample.ops * 1e9) / sample.ns);
    });
  }
  return rates.map((r, j) => {
    const perSecond = median(r);
    return { perSecond, nsPerOp: 1e9 / perSecond, runs: r, ops: ops[j]! };
  });
}

// --- Reporting ------------------------------------------------------------------

/** A figure checked against a floor or ceiling, or a correctness check (nothing lost). */
export interface Check {
  readonly label: string;
  readonly pass: boolean;
  readonly kind: 'floor' | 'verify';
}

export function heading(text: string): void {
  console.log(`\n== ${text} ${'='.repeat(Math.max(0, 74 - text.length))}`);
}

/** 1234567.8 as "1,234,568". */
export function count(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** The spread of the runs, as "min-max" relative to the median. */
export function spread(m: Measurement): string {
  const lo = Math.min(...m.runs) / m.perSecond - 1;
  const hi = Math.max(...m.runs) / m.perSecond - 1;
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(0)}%`;
  return `runs ${pct(lo)}..${pct(hi)}`;
}

const LABEL_WIDTH = 52;

/** Prints one informational figure. */
export function line(label: string, value: string, note = ''): void {
  console.log(`  ${label.padEnd(LABEL_WIDTH)} ${value.padStart(16)}  ${note}`.trimEnd());
}

/** Prints a figure with its floor, PASS or FAIL, and returns the check. */
export function checked(
  label: string,
  value: string,
  pass: boolean,
  floor: string,
  note = '',
): Check {
  const verdict = pass ? 'PASS' : 'FAIL';
  console.log(
    `  ${label.padEnd(LABEL_WIDTH)} ${value.padStart(16)}  [${floor}] ${verdict}  ${note}`.trimEnd(),
  );
  return { label, pass, kind: 'floor' };
}
