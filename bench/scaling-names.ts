/**
 * The names sweep of the scaling section: 10 to 100,000 names bound in one
 * kbusd (over a few Ksocks of one binder process, every tenth a `*`
 * wildcard), binding itself timed, then 1 -> 1 announcements to a plainly
 * bound name and to a name only a wildcard matches, with kbusd's CPU per
 * message: routing in the daemon should not care how many names there are.
 */
import { type ChartSeries, writeChart } from './chart.js';
import { load, progress } from './daemon.js';
import type { KbusPeerArgs } from './fixtures/kbus-peer.js';
import type { ScalePeerArgs } from './fixtures/scale-peer.js';
import { type Check, count } from './harness.js';
import { flowRun } from './measure.js';
import { type Fleet, KBUS_PEER, profileFlags, rssKiB, SCALE_PEER } from './processes.js';
import {
  CpuPer,
  type Flow,
  QUEUE_OPTIONS,
  RUN_MS,
  RUNS,
  short,
  spreadOf,
  table,
  times,
  Verified,
  WARMUP_MS,
  withRange,
} from './scaling-common.js';

const NAMES = [10, 100, 1000, 10_000, 100_000];
const BINDER_KSOCKS = 4;
/** Names bound per call to the binder: a progress line each. */
const CHUNK = 20_000;
const PREFIX = '$.scale.names.';
const LISTENER_MAX_MESSAGES = 1_000_000;

type Target = 'exact' | 'wildcard';
const TARGETS: readonly Target[] = ['exact', 'wildcard'];
/** What the listener binds, and what the sender sends to. */
const BINDING: Record<Target, [bind: string, send: string]> = {
  exact: [`${PREFIX}target`, `${PREFIX}target`],
  wildcard: [`${PREFIX}wild.*`, `${PREFIX}wild.x`],
};

async function startFlow(fleet: Fleet, socket: string, target: Target): Promise<Flow> {
  const [bind, send] = BINDING[target];
  const listener = await fleet.fork(`kbus listener ${target}`, KBUS_PEER, {
    role: 'listener',
    socket,
    name: bind,
    size: 64,
    maxMessages: LISTENER_MAX_MESSAGES,
  } satisfies KbusPeerArgs);
  const sender = await fleet.fork(`kbus sender ${target}`, KBUS_PEER, {
    role: 'sender',
    socket,
    name: send,
    size: 64,
  } satisfies KbusPeerArgs);
  return { sender, listeners: [listener], ksocks: [1] };
}

export async function namesSweep(fleet: Fleet): Promise<Check[]> {
  const title = 'names';
  progress(`${title}: starting kbusd, a binder, and a sender and listener per target (${load()})`);
  const kbusd = await fleet.startKbusd(profileFlags('kbusd-names'), QUEUE_OPTIONS);
  const binder = await fleet.fork('scale binder', SCALE_PEER, {
    role: 'binder',
    socket: kbusd.socket,
    count: BINDER_KSOCKS,
  } satisfies ScalePeerArgs);
  const flows = {} as Record<Target, Flow>;
  for (const t of TARGETS) flows[t] = await startFlow(fleet, kbusd.socket, t);
  const options = { batch: 500, window: 1000, max: Math.floor(0.9 * LISTENER_MAX_MESSAGES) };
  const verified = new Verified();
  const rows: string[][] = [];
  const first: Partial<Record<Target, number>> = {};
  const costs: Record<Target, ChartSeries['points'][number][]> = { exact: [], wildcard: [] };
  let bound = 0;
  let bindMs = 0;
  for (const n of NAMES) {
    // Bind up to n, a chunk at a time, timed by the binder.
    const t0 = bindMs;
    const from = bound;
    while (bound < n) {
      const to = Math.min(n, bound + CHUNK);
      const done = await binder.call<{ bound: number; ms: number }>(
        'bind',
        { prefix: PREFIX, from: bound, to },
        120_000,
      );
      bound = to;
      bindMs += done.ms;
      progress(
        `${title}: bound ${count(bound)} of ${count(n)} names (${count((done.bound * 1000) / done.ms)} binds/s) (${load()})`,
      );
    }
    const bindRate = ((n - from) * 1000) / (bindMs - t0);
    const cpu = { exact: new CpuPer(kbusd.pid), wildcard: new CpuPer(kbusd.pid) };
    const rates: Record<Target, number[]> = { exact: [], wildcard: [] };
    for (let i = 0; i <= RUNS; i++) {
      const warmup = i === 0;
      const texts: string[] = [];
      for (const t of TARGETS) {
        if (!warmup) cpu[t].start();
        const r = await flowRun(flows[t], warmup ? WARMUP_MS : RUN_MS, options);
        verified.add(r);
        if (!warmup) {
          cpu[t].stop(r.delivered);
          rates[t].push(r.perSecond);
        }
        texts.push(`${t} ${short(r.perSecond)} msgs/s`);
      }
      progress(
        `${title}, ${count(n)} names: ${warmup ? 'warm-up' : `run ${i}/${RUNS}`}: ${texts.join(', ')}`,
      );
    }
    for (const t of TARGETS) {
      first[t] ??= cpu[t].us;
      costs[t].push({ x: n, y: cpu[t].spread });
    }
    rows.push([
      count(n),
      short(bindRate),
      `${(rssKiB(kbusd.pid) / 1024).toFixed(1)} MB`,
      ...TARGETS.flatMap((t) => [
        withRange(spreadOf(rates[t])),
        withRange(cpu[t].spread, (x) => x.toFixed(2)),
        times(cpu[t].us, first[t]!),
      ]),
    ]);
  }
  console.log(
    `    bound ${count(bound)} names in ${(bindMs / 1000).toFixed(1)} s: ${count((bound * 1000) / bindMs)} binds/s`,
  );
  await fleet.kill([binder, ...TARGETS.flatMap((t) => [flows[t].sender, ...flows[t].listeners])]);
  await kbusd.stop();
  table(
    `Names: N names bound in one kbusd (over ${BINDER_KSOCKS} Ksocks of one process, every tenth a '*' wildcard), then 64-byte announcements 1 -> 1 to a name bound plainly ('${BINDING.exact[1]}') and to one only a wildcard matches ('${BINDING.wildcard[1]}' to '${BINDING.wildcard[0]}'); binds/s for the names added since the row above; ${RUNS} runs of about ${RUN_MS / 1000} s, median and range`,
    [
      'names',
      'binds/s',
      'kbusd RSS',
      'exact msgs/s',
      'kbusd CPU µs per msg',
      'vs 10 names',
      'wildcard msgs/s',
      'kbusd CPU µs per msg',
      'vs 10 names',
    ],
    rows,
  );
  writeChart('scaling-names.svg', {
    title: 'Names: kbusd CPU per announcement as names are bound',
    subtitle: `64-byte announcements 1 -> 1; median and range of ${RUNS} runs`,
    xLabel: 'names bound',
    yLabel: 'kbusd CPU µs per announcement',
    xTick: count,
    series: [
      { name: 'to a name bound plainly', points: costs.exact },
      { name: 'to a name a wildcard matches', points: costs.wildcard },
    ],
  });
  return [verified.check('names')];
}
