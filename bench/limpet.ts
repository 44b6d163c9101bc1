/**
 * Two buses joined by a Limpet pair over loopback TCP, every figure side by
 * side with the same figure on a single bus, measured in the same run:
 *
 * (1) 64-byte announcements, one sender on bus A to one listener on bus B,
 *     against one sender to one listener on a single bus;
 * (2) request/reply round trips, one in flight, the requester on A and the
 *     replier on B (answering through the Limpets' proxy binding), against
 *     both on a single bus, with latency percentiles.
 *
 * Three kbusd processes: A and B, joined by `kbus limpet --client` on A and
 * `kbus limpet --server` on B (limpet.md), and S, the single bus, which no
 * Limpet touches. Every client is a fixture process (bench/fixtures), as in
 * the daemon section, and runs alternate between the pair and the single
 * bus so that a noisy moment hits both alike.
 *
 * An announcement's SENDMSG is acknowledged once bus A has queued it for
 * the Limpet, so a sender runs ahead of the link, and a full queue drops
 * messages: the Limpet on A reading from A, and the Limpet on B, which
 * receives a copy of each announcement it injects on B, both have the
 * default queue of 10,000. So each run is made of chunks of at most CHUNK
 * sends; every chunk must be received in full by the listener, and every
 * queue on both buses must be empty, before the next starts. A run's rate
 * is its messages over the summed time from each chunk's first send to its
 * last receipt. The single bus is measured the same way.
 */
import { createServer } from 'node:net';
import { Ksock } from '../src/index.js';
import { CpuUsage, guarded, load, only, progress, ratioText } from './daemon.js';
import type { LegTimes } from './fixtures/ipc.js';
import type { KbusPeerArgs } from './fixtures/kbus-peer.js';
import { type Check, count, line } from './harness.js';
import {
  addLegs,
  emptyLegs,
  flowRun,
  type Legs,
  latencyRun,
  legsText,
  median,
  percentile,
} from './measure.js';
import { Fleet, KBUS_PEER, type Peer, type Server } from './processes.js';

const SIZE = 64;
const WARMUP_MS = 1000;
const RUNS = 3;
const RUN_MS = 1000;
/** Sends per chunk: well under the Limpets' default MAXMSGS of 10,000. */
const CHUNK = 8000;
const BATCH = 500;
const WINDOW = 1000;
/** The listeners' queue limit: far above a chunk. */
const LISTENER_MAX_MESSAGES = 100_000;
/** How long queues may take to empty between chunks. */
const QUIET_TIMEOUT_MS = 10_000;
/** How long the pair may take to link up, and a far replier to be proxied. */
const LINK_TIMEOUT_MS = 10_000;

type Side = 'pair' | 'single';
const SIDES: readonly Side[] = ['pair', 'single'];
const SIDE_TEXT: Record<Side, string> = {
  pair: 'across a Limpet pair',
  single: 'single bus',
};

export interface Buses {
  /** Bus A (the Limpet client's), bus B (the Limpet server's), the single bus S. */
  a: Server;
  b: Server;
  s: Server;
  limpetA: Server;
  limpetB: Server;
  /** The bench's own Ksocks on A, B and S, to watch queues and bindings. */
  watchA: Ksock;
  watchB: Ksock;
  watchS: Ksock;
}

interface Context {
  fleet: Fleet;
  buses: Buses;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A free TCP port: listen on port 0 (all interfaces, as the Limpet server will), then close. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP port');
  return address.port;
}

/** Polls `test` every few ms until it holds, or throws `what` after `timeoutMs`. */
export async function until(
  test: () => Promise<boolean>,
  timeoutMs: number,
  what: () => string,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await test())) {
    if (performance.now() > deadline) throw new Error(`${what()} after ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** Every Ksock's queue length on a bus, from its stats text. */
async function queues(watch: Ksock): Promise<number[]> {
  return [...(await watch.stats()).matchAll(/ queue (\d+) of /g)].map((m) => Number(m[1]));
}

/** Waits until no Ksock on these buses has anything queued. */
export async function quiet(watches: readonly Ksock[]): Promise<void> {
  let last: number[][] = [];
  await until(
    async () => {
      last = await Promise.all(watches.map(queues));
      return last.every((q) => q.every((n) => n === 0));
    },
    QUIET_TIMEOUT_MS,
    () => `queues not empty (${last.map((q) => q.join(' ')).join(' | ')})`,
  );
}

export async function startBuses(fleet: Fleet): Promise<Buses> {
  const [a, b, s] = await Promise.all([fleet.startKbusd(), fleet.startKbusd(), fleet.startKbusd()]);
  const port = await freePort();
  // limpet.md: start the server first; the client retries until it is up.
  const limpetB = await fleet.startLimpet(
    'limpet B',
    b.socket,
    ['--server', '--id', '2', `127.0.0.1:${port}`],
    'listening on',
  );
  const limpetA = await fleet.startLimpet(
    'limpet A',
    a.socket,
    ['--client', '--id', '1', '--retry', '10', `127.0.0.1:${port}`],
    'link up',
  );
  const [watchA, watchB, watchS] = await Promise.all([
    Ksock.connect({ socket: a.socket }),
    Ksock.connect({ socket: b.socket }),
    Ksock.connect({ socket: s.socket }),
  ]);
  const buses: Buses = { a, b, s, limpetA, limpetB, watchA, watchB, watchS };
  // Up once each Limpet has made its last binding (limpet.md 3.4) on its bus.
  const bound = async (watch: Ksock, limpet: Server) =>
    (await watch.bindings())
      .split('\n')
      .some((l) => l.includes(` ${limpet.pid} `) && l.endsWith('$.KBUS.ReplierBindEvent'));
  await until(
    async () => (await bound(watchA, limpetA)) && (await bound(watchB, limpetB)),
    LINK_TIMEOUT_MS,
    () => `the Limpets did not bind (${limpetA.stderr()}${limpetB.stderr()})`,
  );
  return buses;
}

/** The watching Ksocks of a side's buses. */
function watches(ctx: Context, side: Side): Ksock[] {
  const { watchA, watchB, watchS } = ctx.buses;
  return side === 'pair' ? [watchA, watchB] : [watchS];
}

// --- (1) Announcements --------------------------------------------------------------

interface Flow {
  sender: Peer;
  listener: Peer;
}

async function startFlow(ctx: Context, side: Side): Promise<Flow> {
  const name = '$.bench.one';
  const { a, b, s } = ctx.buses;
  const [from, to] = side === 'pair' ? [a, b] : [s, s];
  const listener = await ctx.fleet.fork(`${side} listener`, KBUS_PEER, {
    role: 'listener',
    socket: to.socket,
    name,
    size: SIZE,
    maxMessages: LISTENER_MAX_MESSAGES,
  } satisfies KbusPeerArgs);
  const { maxMessages } = await listener.call<{ maxMessages: number }>('info');
  if (maxMessages < LISTENER_MAX_MESSAGES)
    throw new Error(`kbusd gave a listener a queue of ${maxMessages}`);
  const sender = await ctx.fleet.fork(`${side} sender`, KBUS_PEER, {
    role: 'sender',
    socket: from.socket,
    name,
    size: SIZE,
  } satisfies KbusPeerArgs);
  return { sender, listener };
}

interface Totals {
  expected: number;
  delivered: number;
  bad: number;
  failed: number;
  chunks: number;
  errors: string[];
}

/**
 * One run: chunks of CHUNK sends, each received in full and followed by
 * empty queues, until `ms` of chunk time have passed. Stops early if a
 * chunk was not received in full.
 */
async function chunkedRun(
  ctx: Context,
  side: Side,
  flow: Flow,
  ms: number,
  totals: Totals,
): Promise<{ perSecond: number; delivered: number }> {
  let delivered = 0;
  let elapsedMs = 0;
  while (elapsedMs < ms) {
    const r = await flowRun({ sender: flow.sender, listeners: [flow.listener] }, 60_000, {
      batch: BATCH,
      window: WINDOW,
      max: CHUNK,
    });
    totals.expected += r.expected;
    totals.delivered += r.delivered;
    totals.bad += r.bad;
    totals.failed += r.failed;
    totals.chunks++;
    if (r.firstError) totals.errors.push(r.firstError);
    delivered += r.delivered;
    elapsedMs += r.elapsedMs;
    if (r.delivered !== r.expected || r.bad > 0 || r.failed > 0) break;
    await quiet(watches(ctx, side));
  }
  return { perSecond: (delivered * 1000) / elapsedMs, delivered };
}

function flowUsage(ctx: Context, side: Side, flow: Flow): CpuUsage {
  const { a, b, s, limpetA, limpetB } = ctx.buses;
  const clients = [
    ['sender', flow.sender.process.pid!],
    ['listener', flow.listener.process.pid!],
  ] as const;
  return new CpuUsage(
    side === 'pair'
      ? [
          ['kbusd A', a.pid],
          ['limpet A', limpetA.pid],
          ['limpet B', limpetB.pid],
          ['kbusd B', b.pid],
          ...clients,
        ]
      : [['kbusd', s.pid], ...clients],
  );
}

async function announcements(ctx: Context): Promise<Check[]> {
  const title = '(1) 1 -> 1, 64-byte announcements';
  progress(`${title}: starting a sender and a listener per side (${load()})`);
  const flows = {} as Record<Side, Flow>;
  for (const side of SIDES) flows[side] = await startFlow(ctx, side);
  const zero = (): Totals => ({
    expected: 0,
    delivered: 0,
    bad: 0,
    failed: 0,
    chunks: 0,
    errors: [],
  });
  const totals: Record<Side, Totals> = { pair: zero(), single: zero() };
  const rates: Record<Side, number[]> = { pair: [], single: [] };
  const usage = {
    pair: flowUsage(ctx, 'pair', flows.pair),
    single: flowUsage(ctx, 'single', flows.single),
  };
  try {
    for (let run = 0; run <= RUNS; run++) {
      const warmup = run === 0;
      const texts: string[] = [];
      for (const side of SIDES) {
        if (!warmup) usage[side].start();
        const r = await chunkedRun(
          ctx,
          side,
          flows[side],
          warmup ? WARMUP_MS : RUN_MS,
          totals[side],
        );
        if (!warmup) {
          usage[side].stop(r.delivered);
          rates[side].push(r.perSecond);
        }
        texts.push(`${SIDE_TEXT[side]} ${count(r.perSecond)} msg/s`);
      }
      progress(`${title}: ${warmup ? 'warm-up' : `run ${run}/${RUNS}`}: ${texts.join(', ')}`);
    }
  } finally {
    await ctx.fleet.kill(SIDES.flatMap((s) => [flows[s].sender, flows[s].listener]));
  }
  const pairs = rates.pair.map((p, i) => p / rates.single[i]!);
  for (const side of SIDES)
    line(`${title}, ${SIDE_TEXT[side]}`, `${count(median(rates[side]))} msg/s`);
  line(`${title}, pair / single`, ratioText(median(pairs)), '(median of paired runs)');
  for (const side of SIDES)
    console.log(`    ${SIDE_TEXT[side]}: ${usage[side].text('message delivered')}`);
  return SIDES.map((side) => {
    const t = totals[side];
    const lost = t.expected - t.delivered;
    const ok = lost === 0 && t.bad === 0 && t.failed === 0;
    console.log(
      `    verified ${SIDE_TEXT[side]}: ${count(t.delivered)} of ${count(t.expected)} delivered in ${count(t.chunks)} chunks, ${count(lost)} lost, ${count(t.bad)} bad, ${count(t.failed)} sends failed${ok ? '' : '  FAIL'}`,
    );
    for (const e of t.errors.slice(0, 1)) console.log(`    first send error: ${e.split('\n')[0]}`);
    return { label: `${title}, ${SIDE_TEXT[side]}: nothing lost`, pass: ok, kind: 'verify' };
  });
}

// --- (2) Round trips ----------------------------------------------------------------

async function roundTrips(ctx: Context): Promise<Check[]> {
  const title = '(2) request/reply, 1 in flight';
  const name = '$.bench.rpc';
  const { a, b, s, limpetA, limpetB, watchA } = ctx.buses;
  progress(`${title}: starting a requester and a replier per side (${load()})`);
  const args = (bus: Server, role: 'requester' | 'responder'): KbusPeerArgs => ({
    role,
    socket: bus.socket,
    name,
    size: SIZE,
  });
  const responders = await Promise.all([
    ctx.fleet.fork('pair responder', KBUS_PEER, args(b, 'responder')),
    ctx.fleet.fork('single responder', KBUS_PEER, args(s, 'responder')),
  ]);
  // The replier on B reaches A as the Limpet's proxy binding (limpet.md 5.4).
  let replierOnA = 0;
  await until(
    async () => {
      replierOnA = await watchA.replier(name);
      return replierOnA !== 0;
    },
    LINK_TIMEOUT_MS,
    () => `no replier for ${name} on bus A`,
  );
  const requesters = await Promise.all([
    ctx.fleet.fork('pair requester', KBUS_PEER, args(a, 'requester')),
    ctx.fleet.fork('single requester', KBUS_PEER, args(s, 'requester')),
  ]);
  const peers: Record<Side, { requester: Peer; responder: Peer }> = {
    pair: { requester: requesters[0], responder: responders[0] },
    single: { requester: requesters[1], responder: responders[1] },
  };
  const clients = (side: Side) =>
    [
      ['requester', peers[side].requester.process.pid!],
      ['replier', peers[side].responder.process.pid!],
    ] as const;
  const usage: Record<Side, CpuUsage> = {
    pair: new CpuUsage([
      ['kbusd A', a.pid],
      ['limpet A', limpetA.pid],
      ['limpet B', limpetB.pid],
      ['kbusd B', b.pid],
      ...clients('pair'),
    ]),
    single: new CpuUsage([['kbusd', s.pid], ...clients('single')]),
  };
  const samples: Record<Side, number[]> = { pair: [], single: [] };
  const perSecond: Record<Side, number[]> = { pair: [], single: [] };
  const bad: Record<Side, number> = { pair: 0, single: 0 };
  const legs: Record<Side, Legs> = { pair: emptyLegs(), single: emptyLegs() };
  try {
    for (let run = 0; run <= RUNS; run++) {
      const warmup = run === 0;
      const texts: string[] = [];
      for (const side of SIDES) {
        if (!warmup) usage[side].start();
        const result = await latencyRun(peers[side].requester, warmup ? WARMUP_MS : RUN_MS);
        if (!warmup) usage[side].stop(result.sorted.length);
        await peers[side].responder.call('check');
        // Taken after the warm-up too, so that only timed runs' are kept.
        const answered = await peers[side].responder.call<LegTimes>('legs');
        bad[side] += result.bad;
        texts.push(
          `${SIDE_TEXT[side]} ${count(result.perSecond)} rt/s p50 ${percentile(result.sorted, 0.5).toFixed(0)} us`,
        );
        if (warmup) continue;
        if (result.sent) addLegs(legs[side], result.sent, answered);
        samples[side].push(...result.sorted);
        perSecond[side].push(result.perSecond);
      }
      progress(`${title}: ${warmup ? 'warm-up' : `run ${run}/${RUNS}`}: ${texts.join(', ')}`);
    }
  } finally {
    await ctx.fleet.kill([...requesters, ...responders]);
  }
  const stats = {} as Record<Side, { n: number; rate: number; p50: number; p99: number }>;
  for (const side of SIDES) {
    const sorted = samples[side].sort((x, y) => x - y);
    stats[side] = {
      n: sorted.length,
      rate: median(perSecond[side]),
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
    };
    const st = stats[side];
    line(
      `${title}, ${SIDE_TEXT[side]}`,
      `${count(st.rate)} rt/s`,
      `p50 ${st.p50.toFixed(0)} us, p99 ${st.p99.toFixed(0)} us (${count(st.n)} round trips)`,
    );
  }
  const ratios = perSecond.pair.map((p, i) => p / perSecond.single[i]!);
  line(
    `${title}, pair / single`,
    ratioText(median(ratios)),
    `rate (median of paired runs); p50 ${ratioText(stats.pair.p50 / stats.single.p50)}, p99 ${ratioText(stats.pair.p99 / stats.single.p99)}`,
  );
  for (const side of SIDES)
    console.log(`    ${SIDE_TEXT[side]}: ${usage[side].text('round trip')}`);
  for (const side of SIDES) console.log(`    ${SIDE_TEXT[side]}: ${legsText(legs[side])}`);
  const checks: Check[] = [];
  for (const side of SIDES) {
    const ok = bad[side] === 0;
    console.log(
      `    verified ${SIDE_TEXT[side]}: ${count(stats[side].n)} round trips, ${count(bad[side])} replies missing or mismatched${ok ? '' : '  FAIL'}`,
    );
    checks.push({
      label: `${title}, ${SIDE_TEXT[side]}: every reply matched`,
      pass: ok,
      kind: 'verify',
    });
  }
  return checks;
}

// --- The section --------------------------------------------------------------------------

/** The Limpets' stderr past the lines every start prints: anything odd shows here. */
function limpetLog(limpet: Server): string[] {
  const usual = [/warning: listening on all interfaces/, /listening on port/, /link up with/];
  return limpet
    .stderr()
    .split('\n')
    .filter((l) => l !== '' && !usual.some((u) => u.test(l)));
}

export async function limpetSection(): Promise<Check[]> {
  const checks: Check[] = [];
  if (!only('1') && !only('2')) {
    console.log('  (KBUS_BENCH_ONLY names neither 1 nor 2: nothing to measure here)');
    return checks;
  }
  const fleet = new Fleet();
  let buses: Buses | undefined;
  try {
    progress('starting kbusd A, B and S, and a Limpet pair joining A and B over 127.0.0.1');
    buses = await startBuses(fleet);
    const ctx: Context = { fleet, buses };
    const { a, b, s, limpetA, limpetB } = buses;
    console.log(
      `  (kbusd A pid ${a.pid}, B ${b.pid}, S ${s.pid}; limpet A (client, id 1) pid ${limpetA.pid}, limpet B (server, id 2) pid ${limpetB.pid}; each client its own process;`,
    );
    console.log(
      `   ${RUNS} runs of ${RUN_MS / 1000} s after a ${WARMUP_MS / 1000} s warm-up, alternating pair and single bus; medians.`,
    );
    console.log(
      `   Announcements go in chunks of ${count(CHUNK)}, each received in full with every queue empty before the next (Limpet MAXMSGS 10,000 by default).)`,
    );
    if (only('1')) checks.push(...(await guarded('1', () => announcements(ctx))));
    if (only('2')) checks.push(...(await guarded('2', () => roundTrips(ctx))));
    const odd = [...limpetLog(limpetA), ...limpetLog(limpetB)];
    for (const l of odd) console.log(`    limpet log: ${l}`);
  } catch (err) {
    console.log(`  ERROR starting the buses: ${(err as Error).stack ?? err}`);
    checks.push({ label: 'limpet section started', pass: false, kind: 'verify' });
  } finally {
    if (buses) {
      await Promise.all([buses.watchA, buses.watchB, buses.watchS].map((k) => k.close()));
      await Promise.all([buses.limpetA.stop(), buses.limpetB.stop()]);
    }
    await fleet.stop();
  }
  return checks;
}
