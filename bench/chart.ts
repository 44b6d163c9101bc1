/**
 * Line charts as SVG, for the scaling sweeps: how a figure moves along a
 * logarithmic x axis (listeners, Ksocks, names, bytes), each point the
 * median of the runs with a bar from the lowest to the highest. Plain SVG
 * with no script or external font, so that it shows on a repository's page
 * and in any browser.
 *
 * KBUS_BENCH_CHARTS=DIR makes the scaling sweeps write their charts into
 * DIR (see writeChart).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { Spread } from './scaling-common.js';

export interface ChartSeries {
  readonly name: string;
  /** One point per x, in order of x. */
  readonly points: readonly { readonly x: number; readonly y: Spread }[];
}

export interface Chart {
  readonly title: string;
  /** A line under the title: what was measured. */
  readonly subtitle: string;
  readonly xLabel: string;
  readonly yLabel: string;
  /** How an x value is written under its tick. */
  readonly xTick: (x: number) => string;
  readonly series: readonly ChartSeries[];
}

const WIDTH = 720;
const HEIGHT = 400;
const MARGIN = { left: 72, right: 48, top: 84, bottom: 56 };
/** Colours told apart with most kinds of colour blindness too. */
const COLOURS = ['#0072b2', '#d55e00', '#009e73', '#cc79a7'];

/** The chart as an SVG document; `note`, if any, is a second line under the title. */
export function lineChart(chart: Chart, note = ''): string {
  const xs = [...new Set(chart.series.flatMap((s) => s.points.map((p) => p.x)))].sort(
    (a, b) => a - b,
  );
  if (xs.length === 0 || xs[0]! <= 0) throw new Error('a chart needs positive x values');
  const top = niceCeiling(Math.max(...chart.series.flatMap((s) => s.points.map((p) => p.y.max))));
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const logMin = Math.log10(xs[0]!);
  const logSpan = Math.log10(xs[xs.length - 1]!) - logMin || 1;
  const px = (x: number) => MARGIN.left + ((Math.log10(x) - logMin) / logSpan) * plotW;
  const py = (y: number) => MARGIN.top + plotH - (y / top) * plotH;
  const out: string[] = [];
  const text = (x: number, y: number, s: string, attrs = '') =>
    out.push(`<text x="${r(x)}" y="${r(y)}"${attrs}>${escapeXml(s)}</text>`);

  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12" role="img">`,
    `<title>${escapeXml(chart.title)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
  );
  text(MARGIN.left, 22, chart.title, ' font-size="15" font-weight="bold"');
  text(MARGIN.left, 40, chart.subtitle, ' fill="#555555"');
  text(MARGIN.left, 56, note, ' fill="#555555"');
  // The y axis: five steps from 0, with faint grid lines.
  for (let i = 0; i <= 5; i++) {
    const y = (top * i) / 5;
    out.push(
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${r(py(y))}" y2="${r(py(y))}" stroke="${i === 0 ? '#333333' : '#e5e5e5'}"/>`,
    );
    text(MARGIN.left - 8, py(y) + 4, tickText(y), ' text-anchor="end"');
  }
  text(
    16,
    MARGIN.top + plotH / 2,
    chart.yLabel,
    ` text-anchor="middle" transform="rotate(-90 16 ${r(MARGIN.top + plotH / 2)})"`,
  );
  // The x axis: a tick at every x measured.
  for (const x of xs) {
    out.push(
      `<line x1="${r(px(x))}" x2="${r(px(x))}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH + 5}" stroke="#333333"/>`,
    );
    text(px(x), MARGIN.top + plotH + 20, chart.xTick(x), ' text-anchor="middle"');
  }
  text(MARGIN.left + plotW / 2, HEIGHT - 12, chart.xLabel, ' text-anchor="middle"');
  chart.series.forEach((series, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const line = series.points.map((p) => `${r(px(p.x))},${r(py(p.y.median))}`).join(' ');
    out.push(`<polyline points="${line}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    for (const p of series.points) {
      const x = r(px(p.x));
      out.push(
        `<line x1="${x}" x2="${x}" y1="${r(py(p.y.min))}" y2="${r(py(p.y.max))}" stroke="${colour}" stroke-width="1.5"/>`,
        `<circle cx="${x}" cy="${r(py(p.y.median))}" r="3.5" fill="${colour}"/>`,
      );
    }
    // The legend, top right, a line per series.
    const ly = MARGIN.top + 4 + 18 * i;
    const lx = WIDTH - MARGIN.right - 190;
    out.push(`<rect x="${lx}" y="${ly - 9}" width="14" height="4" fill="${colour}"/>`);
    text(lx + 20, ly - 3, series.name);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** What a chart's figures were measured on, and when: "AMD EPYC, 2 cores, Node v20.20.2, 2026-12-04". */
export function measuredOn(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown processor';
  return `${model}, ${cpus.length} cores, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
}

/** Writes `chart` as DIR/`file` when KBUS_BENCH_CHARTS=DIR is set; returns the path, if written. */
export function writeChart(file: string, chart: Chart): string | undefined {
  const dir = process.env.KBUS_BENCH_CHARTS;
  if (dir === undefined || dir === '') return undefined;
  mkdirSync(dir, { recursive: true });
  const path = join(dir, file);
  writeFileSync(path, lineChart(chart, measuredOn()));
  console.log(`    chart: ${path}`);
  return path;
}

/** The smallest 1, 2 or 5 times a power of ten at or above `x` (the y axis's top). */
export function niceCeiling(x: number): number {
  if (!(x > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(x));
  for (const step of [1, 2, 5, 10]) if (step * power >= x) return step * power;
  return 10 * power;
}

function tickText(y: number): string {
  if (y >= 1e6) return `${+(y / 1e6).toPrecision(3)} M`;
  if (y >= 1e4) return `${+(y / 1e3).toPrecision(3)} k`;
  return String(+y.toPrecision(3));
}

const r = (v: number) => Math.round(v * 10) / 10;

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
