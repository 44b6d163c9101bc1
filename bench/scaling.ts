/**
 * How kbusd's cost grows with the work (`node dist/bench/run.js scaling`,
 * not part of a plain `npm run bench`: it takes a few minutes). Four
 * sweeps, each printed as a Markdown table:
 *
 * - fan-out: one announcement to 1, 10, 100 and 1,000 listening Ksocks
 *   (this file);
 * - connections: 10 to 10,000 connected Ksocks, idle and then active
 *   (scaling-connections.ts);
 * - names: 10 to 100,000 bound names (scaling-names.ts);
 * - message size: 16 B to 1 MiB, against the raw Node relay
 *   (scaling-size.ts).
 *
 * Each sweep starts its own kbusd; every client is a fixture process
 * (bench/fixtures), many Ksocks to a process where there are many
 * (scale-peer.ts), so that two cores are not drowned in processes. Each
 * point is a short warm-up and three runs of about a second: medians, with
 * the range of the runs. Every message carries a sequence number its
 * listener checks, so a figure counts only what arrived whole and in order.
 *
 * KBUS_BENCH_SCALING=fanout,names runs only those sweeps (fanout,
 * connections, names, size). KBUS_BENCH_PROFILE=DIR runs every process
 * under --cpu-prof (see daemon.ts): kbusd's profiles go to
 * DIR/kbusd-fanout-<N>, DIR/kbusd-connections-<N> (a kbusd for each
 * point), DIR/kbusd-names and DIR/kbusd-size.
 */

import { type ChartSeries, writeChart } from './chart.js';
import { guarded, load, progress } from './daemon.js';
import type { KbusPeerArgs } from './fixtures/kbus-peer.js';
import type { ScalePeerArgs } from './fixtures/scale-peer.js';
import { type Check, count } from './harness.js';
import { flowRun, median } from './measure.js';
import { Fleet, KBUS_PEER, type Peer, profileFlags, SCALE_PEER } from './processes.js';
import {
  CpuPer,
  type Flow,
  QUEUE_OPTIONS,
  RUN_MS,
  RUNS,
  short,
  split,
  spreadOf,
  table,
  times,
  Verified,
  WARMUP_MS,
  withRange,
} from './scaling-common.js';
import { connectionsSweep } from './scaling-connections.js';
import { namesSweep } from './scaling-names.js';
import { sizeSweep } from './scaling-size.js';

const FAN_OUT = [1, 10, 100, 1000];
const SIZE = 64;
const LISTENER_MAX_MESSAGES = 1_000_000;
/**
 * Deliveries one run may make. A sender is acknowledged once its message
 * is queued, not read, so the run stops at a number of sends that cannot
 * overflow any queue (see kbus-peer's sender), and a million deliveries
 * bounds what kbusd holds queued at once (a run to a thousand Ksocks then
 * lasts a few seconds, while its listeners drain their queues).
 */
const DELIVERIES_PER_RUN = 1_000_000;

/** Listener processes for `n` Ksocks: a few, however many Ksocks. */
function processesFor(n: number): number {
  return n === 1 ? 1 : n <= 10 ? 2 : 4;
}

async function fanOut(fleet: Fleet): Promise<Check[]> {
  const title = 'fan-out';
  const name = '$.scale.fan';
  const verified = new Verified();
  const rows: string[][] = [];
  const costs: ChartSeries['points'][number][] = [];
  let firstCost = 0;
  for (const n of FAN_OUT) {
    const ksocks = split(n, processesFor(n));
    progress(
      `${title}: kbusd, ${n} listening Ksocks in ${ksocks.length} processes (${ksocks.join(', ')}) (${load()})`,
    );
    // A fresh kbusd each time, so that a profile (KBUS_BENCH_PROFILE) is of one point.
    const kbusd = await fleet.startKbusd(profileFlags(`kbusd-fanout-${n}`), QUEUE_OPTIONS);
    // A fresh sender each time: its sequence numbers start at 0, as fresh listeners expect.
    const sender = await fleet.fork('kbus sender', KBUS_PEER, {
      role: 'sender',
      socket: kbusd.socket,
      name,
      size: SIZE,
    } satisfies KbusPeerArgs);
    const listeners: Peer[] = await Promise.all(
      ksocks.map((count, i) =>
        fleet.fork(`scale listeners ${i}`, SCALE_PEER, {
          role: 'listeners',
          socket: kbusd.socket,
          count,
          name,
          size: SIZE,
          maxMessages: LISTENER_MAX_MESSAGES,
        } satisfies ScalePeerArgs),
      ),
    );
    try {
      for (const l of listeners) {
        const { maxMessages } = await l.call<{ maxMessages: number }>('info');
        if (maxMessages < LISTENER_MAX_MESSAGES)
          throw new Error(`kbusd gave a listener a queue of ${maxMessages}`);
      }
      const flow: Flow = { sender, listeners, ksocks };
      // A window of sends in flight that keeps about 100,000 deliveries queued at most.
      const window = Math.max(20, Math.min(1000, Math.floor(100_000 / n)));
      const options = {
        batch: Math.max(10, window >> 1),
        window,
        max: Math.min(Math.floor(0.9 * LISTENER_MAX_MESSAGES), Math.floor(DELIVERIES_PER_RUN / n)),
      };
      const cpu = new CpuPer(kbusd.pid);
      const rates: number[] = [];
      for (let i = 0; i <= RUNS; i++) {
        const warmup = i === 0;
        if (!warmup) cpu.start();
        const r = await flowRun(flow, warmup ? WARMUP_MS : RUN_MS, options);
        verified.add(r);
        if (!warmup) {
          cpu.stop(r.delivered);
          rates.push(r.perSecond);
        }
        progress(
          `${title}, ${n} Ksocks: ${warmup ? 'warm-up' : `run ${i}/${RUNS}`}: ${short(r.perSecond)} deliveries/s`,
        );
      }
      const us = cpu.us;
      if (n === FAN_OUT[0]) firstCost = us;
      costs.push({ x: n, y: cpu.spread });
      rows.push([
        count(n),
        String(ksocks.length),
        withRange(spreadOf(rates)),
        short(median(rates) / n),
        withRange(cpu.spread, (x) => x.toFixed(2)),
        times(us, firstCost),
        cpu.busy,
      ]);
    } finally {
      await fleet.kill([sender, ...listeners]);
      await kbusd.stop();
    }
  }
  table(
    `Fan-out: one 64-byte announcement to N listening Ksocks (the Ksocks spread over 1 to 4 listener processes, one sender process; ${RUNS} runs of about ${RUN_MS / 1000} s, median and range)`,
    [
      'listening Ksocks',
      'listener processes',
      'deliveries/s',
      'announcements/s',
      'kbusd CPU µs per delivery',
      'vs 1 Ksock',
      'kbusd busy',
    ],
    rows,
  );
  writeChart('scaling-fanout.svg', {
    title: 'Fan-out: kbusd CPU per delivery',
    subtitle: `one 64-byte announcement to N listening Ksocks; median and range of ${RUNS} runs`,
    xLabel: 'listening Ksocks',
    yLabel: 'kbusd CPU µs per delivery',
    xTick: count,
    series: [{ name: 'kbusd CPU per delivery', points: costs }],
  });
  return [verified.check('fan-out')];
}

/** KBUS_BENCH_SCALING=a,b runs only those sweeps (all by default). */
function wanted(key: string): boolean {
  const only = process.env.KBUS_BENCH_SCALING;
  return only === undefined || only === '' || only.split(',').includes(key);
}

export async function scalingSection(): Promise<Check[]> {
  const sweeps: [string, (fleet: Fleet) => Promise<Check[]>][] = [
    ['fanout', fanOut],
    ['connections', connectionsSweep],
    ['names', namesSweep],
    ['size', sizeSweep],
  ];
  const checks: Check[] = [];
  for (const [key, sweep] of sweeps) {
    if (!wanted(key)) continue;
    // A fleet per sweep: whatever one leaves behind is gone before the next.
    const fleet = new Fleet();
    try {
      checks.push(...(await guarded(key, () => sweep(fleet))));
    } finally {
      await fleet.stop();
    }
  }
  return checks;
}
