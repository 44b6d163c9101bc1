/**
 * What the sweeps of the scaling section share: timed flows (a sender, its
 * listener processes, each holding one Ksock or many), the daemon's CPU per
 * message, what was verified, file-descriptor limits, and the tables.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Check } from './harness.js';
import { count } from './harness.js';
import { median } from './measure.js';
import { cpuMs, type Peer } from './processes.js';

/** Timed runs per point, after a shorter warm-up; medians are reported. */
export const RUNS = 3;
export const RUN_MS = 1000;
export const WARMUP_MS = 500;

/**
 * Queue byte budgets no run reaches: each run stops at a number of sends
 * its listeners' queues can hold (see kbus-peer's sender), up to 512 MiB.
 */
export const QUEUE_OPTIONS = ['--max-queue-bytes', '1G', '--max-total-queue-bytes', '2G'];

/** `n` split into `parts` near-equal counts. */
export function split(n: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(n / parts) + (i < n % parts ? 1 : 0));
}

// --- Figures ----------------------------------------------------------------------------

/** The median of some runs, and their range. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export function spreadOf(values: readonly number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/** A number with 3 significant figures and a thousands separator: 1,234,567 as "1.23 M". */
export function short(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  const abs = Math.abs(x);
  // 999,700 rounds to 1.00 M, not "1.00e+3 k".
  if (abs >= 999_500) return `${(x / 1e6).toPrecision(3)} M`;
  if (abs >= 1e4) return `${(x / 1e3).toPrecision(3)} k`;
  if (abs >= 100) return count(x);
  return x.toPrecision(3);
}

/** "1.23 M (1.20 M-1.25 M)": the median and the range of the runs. */
export function withRange(s: Spread, format: (x: number) => string = short): string {
  return `${format(s.median)} (${format(s.min)}-${format(s.max)})`;
}

/** How a cost compares with the first row's: "1.00x". */
export function times(x: number, first: number): string {
  return `${(x / first).toFixed(2)}x`;
}

/**
 * Prints a Markdown table under its caption (indented like the rest of the
 * output; a Markdown reader does not mind). Columns after the first are
 * right-aligned.
 */
export function table(caption: string, headers: readonly string[], rows: readonly string[][]) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const cells = (r: readonly string[]) =>
    `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log('');
  console.log(`  ${caption}`);
  console.log('');
  console.log(`  ${cells(headers)}`);
  console.log(
    `  | ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`,
  );
  for (const r of rows) console.log(`  ${cells(r)}`);
  console.log('');
}

// --- Flows ------------------------------------------------------------------------------

/** A sender and the processes listening to it, with how many Ksocks each holds. */
export interface Flow {
  readonly sender: Peer;
  readonly listeners: readonly Peer[];
  /** Ksocks (or relay connections) in each listener process. */
  readonly ksocks: readonly number[];
}

export interface SendOptions {
  batch: number;
  window: number;
  /** Most messages sent in one run (0: no limit; see kbus-peer's sender). */
  max: number;
}

/** CPU a process used over some runs, per unit of work (ms of CPU from /proc). */
export class CpuPer {
  private before = 0;
  private t0 = 0;
  private used = 0;
  private wallMs = 0;
  private units = 0;
  private readonly each: number[] = [];

  constructor(private readonly pid: number) {}

  start(): void {
    this.before = cpuMs(this.pid);
    this.t0 = performance.now();
  }

  stop(units: number): void {
    const used = cpuMs(this.pid) - this.before;
    this.wallMs += performance.now() - this.t0;
    this.used += used;
    this.units += units;
    this.each.push((used * 1000) / units);
  }

  /** Its CPU as a share of one core over the runs: "87%". */
  get busy(): string {
    return `${((100 * this.used) / this.wallMs).toFixed(0)}%`;
  }

  /** Microseconds of CPU per unit: the median of the runs. */
  get us(): number {
    return median(this.each);
  }

  /** Per run, for the range. */
  get spread(): Spread {
    return spreadOf(this.each);
  }
}

/** What every run delivered against what it should have: nothing lost, garbled or refused. */
export class Verified {
  expected = 0;
  delivered = 0;
  bad = 0;
  failed = 0;
  errors: string[] = [];

  add(r: {
    expected: number;
    delivered: number;
    bad: number;
    failed: number;
    firstError?: string | undefined;
  }): void {
    this.expected += r.expected;
    this.delivered += r.delivered;
    this.bad += r.bad;
    this.failed += r.failed;
    if (r.firstError) this.errors.push(r.firstError);
  }

  /** Prints one "verified" line and returns the check. */
  check(label: string): Check {
    const lost = this.expected - this.delivered;
    const ok = lost === 0 && this.bad === 0 && this.failed === 0;
    console.log(
      `    verified ${label}: ${count(this.delivered)} of ${count(this.expected)} delivered, ${count(lost)} lost, ${count(this.bad)} bad, ${count(this.failed)} sends failed${ok ? '' : '  FAIL'}`,
    );
    for (const e of this.errors.slice(0, 1))
      console.log(`    first send error: ${e.split('\n')[0]}`);
    return { label: `scaling, ${label}: nothing lost`, pass: ok, kind: 'verify' };
  }
}

// --- Open files -------------------------------------------------------------------------

/** A process's soft and hard limits on open files (Infinity for unlimited). */
export function openFiles(pid: number | 'self' = 'self'): { soft: number; hard: number } {
  const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  const value = (s: string | undefined) =>
    s === undefined || s === 'unlimited' ? Number.POSITIVE_INFINITY : Number(s);
  return { soft: value(match?.[1]), hard: value(match?.[2]) };
}

/**
 * Raises a process's soft limit on open files to `wanted` (at most its
 * hard limit) with prlimit(1) where it is installed; returns the soft
 * limit the process has now.
 */
export function raiseOpenFiles(pid: number, wanted: number): number {
  const { soft, hard } = openFiles(pid);
  if (soft >= wanted) return soft;
  const to = Math.min(wanted, hard);
  try {
    execFileSync(
      'prlimit',
      [`--pid=${pid}`, `--nofile=${to}:${hard === Infinity ? 'unlimited' : hard}`],
      {
        stdio: 'ignore',
      },
    );
  } catch {
    // No prlimit, or not allowed: the caller caps what it asks for.
  }
  return openFiles(pid).soft;
}

export const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
