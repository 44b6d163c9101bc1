// The scaling charts are read instead of the tables: a point drawn in the
// wrong place would mislead without anyone noticing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lineChart, niceCeiling } from '../../bench/chart.js';

const spread = (median: number, min = median, max = median) => ({ median, min, max });

/** The points of each series' line, as numbers. */
function lines(svg: string): [number, number][][] {
  return [...svg.matchAll(/<polyline points="([^"]+)"/g)].map((m) =>
    m[1]!.split(' ').map((p) => p.split(',').map(Number) as [number, number]),
  );
}

test('x is logarithmic: 1, 10, 100 and 1,000 lie evenly spaced, left to right', () => {
  const svg = lineChart({
    title: 't',
    subtitle: 's',
    xLabel: 'x',
    yLabel: 'y',
    xTick: String,
    series: [{ name: 'a', points: [1, 10, 100, 1000].map((x) => ({ x, y: spread(1) })) }],
  });
  const [line] = lines(svg);
  const xs = line!.map(([x]) => x);
  const steps = xs.slice(1).map((x, i) => x - xs[i]!);
  assert.ok(steps.every((d) => d > 0));
  assert.ok(Math.max(...steps) - Math.min(...steps) < 0.5, `uneven steps ${steps}`);
});

test('y runs up from 0: a larger value is drawn higher, and twice the value twice as high', () => {
  const svg = lineChart({
    title: 't',
    subtitle: 's',
    xLabel: 'x',
    yLabel: 'y',
    xTick: String,
    series: [
      {
        name: 'a',
        points: [
          { x: 1, y: spread(0) },
          { x: 2, y: spread(2) },
          { x: 4, y: spread(4) },
        ],
      },
    ],
  });
  const [[zero, two, four]] = lines(svg) as [[number, number][]];
  const height = (p: [number, number]) => zero![1] - p[1];
  assert.ok(height(four!) > height(two!));
  assert.ok(Math.abs(height(four!) - 2 * height(two!)) < 0.5);
});

test('each point has a bar from its lowest run to its highest, and every series is in the legend', () => {
  const svg = lineChart({
    title: 'a < b',
    subtitle: 's',
    xLabel: 'x',
    yLabel: 'y',
    xTick: String,
    series: [
      { name: 'kbusd', points: [{ x: 1, y: spread(5, 4, 7) }] },
      { name: 'relay & co', points: [{ x: 1, y: spread(6, 6, 6) }] },
    ],
  });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, />kbusd</);
  // Text is escaped, so that the document stays well formed.
  assert.match(svg, />relay &amp; co</);
  assert.match(svg, />a &lt; b</);
  const bar = /<line x1="([\d.]+)" x2="\1" y1="([\d.]+)" y2="([\d.]+)" stroke="#0072b2"/.exec(svg);
  assert.ok(bar, 'no range bar for the first series');
  const [low, high] = [Number(bar[2]), Number(bar[3])];
  assert.ok(low > high, 'the lowest run is drawn below the highest');
});

test('the y axis tops out at the next 1, 2 or 5 times a power of ten', () => {
  assert.equal(niceCeiling(1.74), 2);
  assert.equal(niceCeiling(2), 2);
  assert.equal(niceCeiling(4.1), 5);
  assert.equal(niceCeiling(637), 1000);
  assert.equal(niceCeiling(0.39), 0.5);
  assert.equal(niceCeiling(0), 1);
});
