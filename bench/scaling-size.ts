/**
 * The message-size sweep of the scaling section: 1 -> 1 announcements of
 * 16 B to 1 MiB of data, through kbusd and through the raw Node relay
 * (relay.ts) in the same run, runs alternating, in MB/s of data.
 */
import { type ChartSeries, writeChart } from './chart.js';
import { load, progress } from './daemon.js';
import type { KbusPeerArgs } from './fixtures/kbus-peer.js';
import type { RelayPeerArgs } from './fixtures/relay-peer.js';
import type { Check } from './harness.js';
import { flowRun, median } from './measure.js';
import { type Fleet, KBUS_PEER, profileFlags, RELAY_PEER, type Server } from './processes.js';
import {
  CpuPer,
  type Flow,
  QUEUE_OPTIONS,
  RUN_MS,
  RUNS,
  type SendOptions,
  short,
  spreadOf,
  table,
  Verified,
  WARMUP_MS,
  withRange,
} from './scaling-common.js';

const KIB = 1024;
const SIZES = [16, 256, 4 * KIB, 64 * KIB, 1024 * KIB];
const LISTENER_MAX_MESSAGES = 1_000_000;
/** Bytes of data one kbusd run may queue (see kbus-peer's sender): about a second's worth. */
const BYTES_PER_RUN = 512 * 2 ** 20;

type Side = 'kbusd' | 'relay';
const SIDES: readonly Side[] = ['kbusd', 'relay'];

function sizeText(size: number): string {
  return size >= 1024 * KIB
    ? `${size / (1024 * KIB)} MiB`
    : size >= KIB
      ? `${size / KIB} KiB`
      : `${size} B`;
}

/** Messages per batch and in flight: fewer as they grow, so a window stays a few MiB. */
function pacing(size: number): { batch: number; window: number } {
  if (size <= 256) return { batch: 500, window: 1000 };
  if (size <= 4 * KIB) return { batch: 100, window: 400 };
  if (size <= 64 * KIB) return { batch: 16, window: 64 };
  return { batch: 2, window: 8 };
}

async function startFlow(fleet: Fleet, side: Side, server: Server, size: number): Promise<Flow> {
  const name = '$.scale.size';
  const channel = 10;
  const listener =
    side === 'kbusd'
      ? await fleet.fork('kbus listener', KBUS_PEER, {
          role: 'listener',
          socket: server.socket,
          name,
          size,
          maxMessages: LISTENER_MAX_MESSAGES,
        } satisfies KbusPeerArgs)
      : await fleet.fork('relay listener', RELAY_PEER, {
          role: 'listener',
          socket: server.socket,
          channel,
          size,
        } satisfies RelayPeerArgs);
  const sender =
    side === 'kbusd'
      ? await fleet.fork('kbus sender', KBUS_PEER, {
          role: 'sender',
          socket: server.socket,
          name,
          size,
        } satisfies KbusPeerArgs)
      : await fleet.fork('relay sender', RELAY_PEER, {
          role: 'sender',
          socket: server.socket,
          channel,
          size,
        } satisfies RelayPeerArgs);
  return { sender, listeners: [listener], ksocks: [1] };
}

export async function sizeSweep(fleet: Fleet): Promise<Check[]> {
  const title = 'message size';
  progress(`${title}: starting kbusd and the relay (${load()})`);
  const servers: Record<Side, Server> = {
    kbusd: await fleet.startKbusd(profileFlags('kbusd-size'), QUEUE_OPTIONS),
    relay: await fleet.startRelay(profileFlags('relay-size')),
  };
  const verified: Record<Side, Verified> = { kbusd: new Verified(), relay: new Verified() };
  const rows: string[][] = [];
  const throughput: Record<Side, ChartSeries['points'][number][]> = { kbusd: [], relay: [] };
  for (const size of SIZES) {
    progress(`${title}: ${sizeText(size)}, a sender and a listener per side (${load()})`);
    const flows = {} as Record<Side, Flow>;
    for (const side of SIDES) flows[side] = await startFlow(fleet, side, servers[side], size);
    const options = (side: Side): SendOptions => ({
      ...pacing(size),
      max:
        side === 'kbusd'
          ? Math.min(Math.floor(0.9 * LISTENER_MAX_MESSAGES), Math.floor(BYTES_PER_RUN / size))
          : 0,
    });
    const cpu = { kbusd: new CpuPer(servers.kbusd.pid), relay: new CpuPer(servers.relay.pid) };
    const rates: Record<Side, number[]> = { kbusd: [], relay: [] };
    try {
      for (let i = 0; i <= RUNS; i++) {
        const warmup = i === 0;
        const texts: string[] = [];
        for (const side of SIDES) {
          if (!warmup) cpu[side].start();
          const r = await flowRun(flows[side], warmup ? WARMUP_MS : RUN_MS, options(side));
          verified[side].add(r);
          if (!warmup) {
            cpu[side].stop(r.delivered);
            rates[side].push(r.perSecond);
          }
          texts.push(`${side} ${((r.perSecond * size) / 1e6).toFixed(0)} MB/s`);
        }
        progress(
          `${title}, ${sizeText(size)}: ${warmup ? 'warm-up' : `run ${i}/${RUNS}`}: ${texts.join(', ')}`,
        );
      }
    } finally {
      await fleet.kill(SIDES.flatMap((s) => [flows[s].sender, ...flows[s].listeners]));
    }
    const mbps = (perSecond: number) => ((perSecond * size) / 1e6).toPrecision(3);
    // Runs alternate, so run i of each saw about the same machine: compare pairwise.
    const ratio = median(rates.kbusd.map((k, i) => k / rates.relay[i]!));
    for (const side of SIDES) {
      throughput[side].push({ x: size, y: spreadOf(rates[side].map((r) => (r * size) / 1e6)) });
    }
    rows.push([
      sizeText(size),
      withRange(spreadOf(rates.kbusd), mbps),
      withRange(spreadOf(rates.relay), mbps),
      `${ratio.toFixed(2)}x`,
      short(median(rates.kbusd)),
      short(cpu.kbusd.us),
      short(cpu.relay.us),
      cpu.kbusd.busy,
    ]);
  }
  await Promise.all(SIDES.map((s) => servers[s].stop()));
  table(
    `Message size: 1 -> 1 announcements through kbusd and through the raw Node relay in the same run, runs alternating (a sender and a listener process per side; ${RUNS} runs of about ${RUN_MS / 1000} s, median and range; MB/s of data, 10^6 bytes)`,
    [
      'data',
      'kbusd MB/s',
      'relay MB/s',
      'kbusd / relay',
      'kbusd msgs/s',
      'kbusd CPU µs per msg',
      'relay CPU µs per msg',
      'kbusd busy',
    ],
    rows,
  );
  writeChart('scaling-size.svg', {
    title: 'Message size: MB/s of data, kbusd and the raw Node relay',
    subtitle: `1 -> 1 announcements, runs alternating; median and range of ${RUNS} runs`,
    xLabel: 'data per message',
    yLabel: 'MB/s of data',
    xTick: sizeText,
    series: [
      { name: 'kbusd', points: throughput.kbusd },
      { name: 'raw Node relay', points: throughput.relay },
    ],
  });
  return SIDES.map((side) => verified[side].check(`message size, ${side}`));
}
