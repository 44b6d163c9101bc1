/// <reference lib="dom" />
/**
 * The few DOM helpers the console needs: building elements, and the
 * messages-per-second chart drawn in SVG.
 */
import type { RatePoint } from './model.js';

type Child = Node | string | number | null | undefined | false;

/** An element with attributes (`class`, `data-*`, ...) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'object' ? child : String(child));
  }
  return el;
}

/** Replaces an element's children. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'object' ? child : String(child));
  }
}

const SVG = 'http://www.w3.org/2000/svg';
const COLOURS = ['#2f7ed8', '#e4572e', '#17a398', '#f3a712', '#8e44ad', '#555'];

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  return el;
}

/** Messages per second per device over `windowMs`, as an SVG line chart that scales to its box. */
export function rateChart(points: readonly RatePoint[], now: number, windowMs: number): SVGElement {
  const width = 1000;
  const height = 170;
  const pad = 28;
  const chart = svg('svg', {
    viewBox: `0 0 ${width} ${height}`,
    class: 'chart',
    role: 'img',
    'aria-label': 'messages per second per device',
  });
  const devices = Math.max(0, ...points.map((p) => p.perDevice.length));
  const top = Math.max(1, ...points.flatMap((p) => p.perDevice));
  const x = (t: number) => pad + ((t - (now - windowMs)) / windowMs) * (width - pad - 4);
  const y = (v: number) => height - 16 - (v / top) * (height - 28);
  chart.append(svg('line', { x1: pad, y1: y(0), x2: width - 4, y2: y(0), class: 'axis' }));
  const label = svg('text', { x: 2, y: 12, class: 'axis-label' });
  label.textContent = `${Math.round(top)}/s`;
  chart.append(label);
  const minutes = svg('text', { x: pad, y: height - 2, class: 'axis-label' });
  minutes.textContent = `last ${Math.round(windowMs / 60_000)} min`;
  chart.append(minutes);
  for (let d = 0; d < devices; d++) {
    const coords = points.map(
      (p) => `${x(p.time).toFixed(1)},${y(p.perDevice[d] ?? 0).toFixed(1)}`,
    );
    if (coords.length === 0) continue;
    chart.append(
      svg('polyline', {
        points: coords.join(' '),
        fill: 'none',
        stroke: COLOURS[d % COLOURS.length]!,
        'stroke-width': 2,
        'data-device': d,
      }),
    );
  }
  return chart;
}

/** A bar showing `used` of `limit`, with the figures as its text. */
export function fillBar(used: number, limit: number, text: string): HTMLElement {
  const share = limit > 0 ? Math.min(1, used / limit) : 0;
  const bar = h('span', { class: `bar${share >= 0.9 ? ' full' : ''}`, title: text });
  bar.append(h('span', { class: 'bar-fill', style: `width:${(share * 100).toFixed(1)}%` }));
  bar.append(h('span', { class: 'bar-text' }, text));
  return bar;
}
