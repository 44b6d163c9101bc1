/**
 * Cluster mode (docs/cluster.md), measured in one run beside what it
 * replaces:
 *
 * (1) 64-byte announcements, one sender to one listener: between two kbusd
 *     joined through one nats-server (sender on C1, listener on C2), across
 *     a Limpet pair (A to B), and on one kbusd alone (S);
 * (2) request/reply round trips, one in flight, requester on the first bus
 *     and replier on the second, with p50 and p99, on the same three;
 * (3) eight kbusd on one nats-server (cluster-fanout.ts): the cost of an
 *     announcement only one other bus wants against one that all seven
 *     others want (and one no other bus wants, which interest routing keeps
 *     off the network).
 *
 * Every client is a fixture process. Runs alternate between the sides, so
 * that a noisy moment hits them alike: compare the ratios of one run, and
 * the range of each figure over the runs. Announcements go in chunks
 * (cluster-setup.ts), each received in full with every queue empty before
 * the next, as in the Limpet section. Skipped, with one line, when
 * nats-server is not installed.
 */
import { fanoutSection } from './cluster-fanout.js';
import {
  type ClusterBus,
  chunkedRun,
  type Nats,
  natsServer,
  range,
  startClusterBus,
  startNats,
  type Totals,
  verified,
  waitAgent,
  zeroTotals,
} from './cluster-setup.js';
import { guarded, load, progress, ratioText } from './daemon.js';
import type { KbusPeerArgs } from './fixtures/kbus-peer.js';
import { type Check, count, line } from './harness.js';
import { type Buses, startBuses, until } from './limpet.js';
import { latencyRun, median, percentile } from './measure.js';
import { Fleet, KBUS_PEER, type Peer, type Server } from './processes.js';

const SIZE = 64;
const WARMUP_MS = 1000;
const RUNS = 5;
const RUN_MS = 1000;

type Side = 'cluster' | 'pair' | 'single';
const SIDES: readonly Side[] = ['cluster', 'pair', 'single'];
const SIDE_TEXT: Record<Side, string> = {
  cluster: 'two kbusd through NATS',
  pair: 'across a Limpet pair',
  single: 'single bus',
};

interface Context {
  fleet: Fleet;
  buses: Buses;
  c1: ClusterBus;
  c2: ClusterBus;
}

/** The bus a side sends on, the bus it receives on, and the buses whose queues must empty. */
function ends(ctx: Context, side: Side): { from: Server; to: Server; watches: Buses['watchA'][] } {
  const { a, b, s, watchA, watchB, watchS } = ctx.buses;
  if (side === 'cluster')
    return { from: ctx.c1.server, to: ctx.c2.server, watches: [ctx.c1.watch, ctx.c2.watch] };
  if (side === 'pair') return { from: a, to: b, watches: [watchA, watchB] };
  return { from: s, to: s, watches: [watchS] };
}

const peerArgs = (bus: Server, role: KbusPeerArgs['role'], name: string): KbusPeerArgs => ({
  role,
  socket: bus.socket,
  name,
  size: SIZE,
  maxMessages: 100_000,
});

async function announcements(ctx: Context): Promise<Check[]> {
  const title = '(1) 1 -> 1, 64-byte announcements';
  const name = '$.bench.one';
  progress(`${title}: starting a sender and a listener per side (${load()})`);
  const flows = {} as Record<Side, { sender: Peer; listeners: Peer[] }>;
  for (const side of SIDES) {
    const { from, to } = ends(ctx, side);
    const listener = await ctx.fleet.fork(
      `${side} listener`,
      KBUS_PEER,
      peerArgs(to, 'listener', name),
    );
    const sender = await ctx.fleet.fork(
      `${side} sender`,
      KBUS_PEER,
      peerArgs(from, 'sender', name),
    );
    flows[side] = { sender, listeners: [listener] };
  }
  // The listener's interest must have reached C1 before anything is sent there.
  await waitAgent(ctx.c1, 'L', name);
  const totals = { cluster: zeroTotals(), pair: zeroTotals(), single: zeroTotals() };
  const rates: Record<Side, number[]> = { cluster: [], pair: [], single: [] };
  try {
    for (let run = 0; run <= RUNS; run++) {
      const warmup = run === 0;
      const texts: string[] = [];
      for (const side of SIDES) {
        const ms = warmup ? WARMUP_MS : RUN_MS;
        const r = await chunkedRun(flows[side], ends(ctx, side).watches, ms, totals[side]);
        if (!warmup) rates[side].push(r.sentPerSecond);
        texts.push(`${side} ${count(r.sentPerSecond)}`);
      }
      progress(`${title}: ${warmup ? 'warm-up' : `run ${run}/${RUNS}`}: ${texts.join(', ')} msg/s`);
    }
  } finally {
    await ctx.fleet.kill(SIDES.flatMap((s) => [flows[s].sender, ...flows[s].listeners]));
  }
  for (const side of SIDES)
    line(
      `${title}, ${SIDE_TEXT[side]}`,
      `${count(median(rates[side]))} msg/s`,
      `runs ${range(rates[side])}`,
    );
  const ratio = (x: Side, y: Side) => rates[x].map((v, i) => v / rates[y][i]!);
  for (const [x, y] of [
    ['cluster', 'single'],
    ['cluster', 'pair'],
  ] as const) {
    const r = ratio(x, y);
    line(`${title}, ${x} / ${y}`, ratioText(median(r)), `runs ${range(r, 2)} (paired runs)`);
  }
  return SIDES.map((side) => ({
    label: `${title}, ${SIDE_TEXT[side]}: nothing lost`,
    pass: verified(SIDE_TEXT[side], totals[side] as Totals),
    kind: 'verify',
  }));
}

async function roundTrips(ctx: Context): Promise<Check[]> {
  const title = '(2) request/reply, 1 in flight';
  const name = '$.bench.rpc';
  progress(`${title}: starting a requester and a replier per side (${load()})`);
  const peers = {} as Record<Side, { requester: Peer; responder: Peer }>;
  for (const side of SIDES) {
    const { from, to } = ends(ctx, side);
    const responder = await ctx.fleet.fork(
      `${side} responder`,
      KBUS_PEER,
      peerArgs(to, 'responder', name),
    );
    peers[side] = { responder, requester: undefined as unknown as Peer };
    if (side === 'cluster') await waitAgent(ctx.c1, 'R', name);
    if (side === 'pair')
      await until(
        async () => (await ctx.buses.watchA.replier(name)) !== 0,
        15_000,
        () => `no replier for ${name} on bus A`,
      );
    peers[side].requester = await ctx.fleet.fork(
      `${side} requester`,
      KBUS_PEER,
      peerArgs(from, 'requester', name),
    );
  }
  const samples: Record<Side, number[][]> = { cluster: [], pair: [], single: [] };
  const rates: Record<Side, number[]> = { cluster: [], pair: [], single: [] };
  const bad: Record<Side, number> = { cluster: 0, pair: 0, single: 0 };
  try {
    for (let run = 0; run <= RUNS; run++) {
      const warmup = run === 0;
      const texts: string[] = [];
      for (const side of SIDES) {
        const r = await latencyRun(peers[side].requester, warmup ? WARMUP_MS : RUN_MS);
        await peers[side].responder.call('check');
        bad[side] += r.bad;
        texts.push(`${side} p50 ${percentile(r.sorted, 0.5).toFixed(0)} us`);
        if (warmup) continue;
        samples[side].push(r.sorted);
        rates[side].push(r.perSecond);
      }
      progress(`${title}: ${warmup ? 'warm-up' : `run ${run}/${RUNS}`}: ${texts.join(', ')}`);
    }
  } finally {
    await ctx.fleet.kill(SIDES.flatMap((s) => [peers[s].requester, peers[s].responder]));
  }
  const p = (side: Side, q: number) => samples[side].map((sorted) => percentile(sorted, q));
  for (const side of SIDES) {
    const all = samples[side].flat().sort((x, y) => x - y);
    line(
      `${title}, ${SIDE_TEXT[side]}`,
      `${count(median(rates[side]))} rt/s`,
      `p50 ${percentile(all, 0.5).toFixed(0)} us (runs ${range(p(side, 0.5))}), p99 ${percentile(all, 0.99).toFixed(0)} us (runs ${range(p(side, 0.99))}), ${count(all.length)} round trips`,
    );
  }
  for (const [x, y] of [
    ['cluster', 'single'],
    ['cluster', 'pair'],
  ] as const) {
    const p50 = p(x, 0.5).map((v, i) => v / p(y, 0.5)[i]!);
    const p99 = p(x, 0.99).map((v, i) => v / p(y, 0.99)[i]!);
    line(
      `${title}, ${x} / ${y} latency`,
      `p50 ${ratioText(median(p50))}`,
      `runs ${range(p50, 2)}; p99 ${ratioText(median(p99))}, runs ${range(p99, 2)} (paired runs)`,
    );
  }
  return SIDES.map((side) => {
    const ok = bad[side] === 0;
    console.log(
      `    verified ${SIDE_TEXT[side]}: ${bad[side]} replies missing or mismatched${ok ? '' : '  FAIL'}`,
    );
    return { label: `${title}, ${SIDE_TEXT[side]}: every reply matched`, pass: ok, kind: 'verify' };
  });
}

async function pairSection(fleet: Fleet, nats: Nats): Promise<Check[]> {
  progress('starting kbusd C1 and C2 (bus ids 1, 2), A and B with a Limpet pair, and S');
  const [c1, c2] = [
    await startClusterBus(fleet, nats.url, 1),
    await startClusterBus(fleet, nats.url, 2),
  ];
  const buses = await startBuses(fleet);
  const ctx: Context = { fleet, buses, c1, c2 };
  console.log(
    `  (nats-server pid ${nats.server.pid}; kbusd C1 ${c1.server.pid}, C2 ${c2.server.pid}, A ${buses.a.pid}, B ${buses.b.pid}, S ${buses.s.pid};`,
  );
  console.log(
    `   ${RUNS} runs of ${RUN_MS / 1000} s after a ${WARMUP_MS / 1000} s warm-up, alternating cluster, pair and single bus.)`,
  );
  try {
    return [
      ...(await guarded('1', () => announcements(ctx))),
      ...(await guarded('2', () => roundTrips(ctx))),
    ];
  } finally {
    await Promise.all([c1, c2].map((c) => c.watch.close()));
    await Promise.all([buses.watchA, buses.watchB, buses.watchS].map((k) => k.close()));
    await Promise.all([
      buses.limpetA.stop(),
      buses.limpetB.stop(),
      c1.server.stop(),
      c2.server.stop(),
    ]);
    await Promise.all([buses.a.stop(), buses.b.stop(), buses.s.stop()]);
  }
}

export async function clusterSection(): Promise<Check[]> {
  const command = natsServer();
  if (command === undefined) {
    console.log(
      '  skipped: nats-server is not installed (see README, "Cluster mode: one bus across many machines, on NATS")',
    );
    return [];
  }
  const checks: Check[] = [];
  const fleet = new Fleet();
  let nats: Nats | undefined;
  try {
    nats = await startNats(fleet, command);
    checks.push(...(await pairSection(fleet, nats)));
    checks.push(...(await guarded('3', () => fanoutSection(fleet, nats!))));
  } catch (err) {
    console.log(`  ERROR starting the buses: ${(err as Error).stack ?? err}`);
    checks.push({ label: 'cluster section started', pass: false, kind: 'verify' });
  } finally {
    await fleet.stop();
    nats?.remove();
  }
  return checks;
}
