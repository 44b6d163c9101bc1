/**
 * kbusd over its Unix socket, every figure side by side with the same
 * figure through a raw Node relay (relay.ts) measured in the same run:
 * announcement throughput 1 -> 1 and 1 -> 4 wildcard listeners,
 * request/reply round trips with latency percentiles, 64 KiB messages in
 * MB/s, and the daemon's memory, idle and with 1,000 idle Ksocks.
 *
 * kbusd, the relay and every client run as separate processes (fixtures in
 * bench/fixtures), so the machine's cores are shared as in a deployment.
 * Runs alternate between kbusd and the relay, so that a noisy moment hits
 * both alike. Every message carries a sequence number that its listeners
 * check: nothing lost, duplicated, reordered or garbled.
 *
 * Each run also reports the CPU time every process used per message (or
 * round trip), from /proc: on a busy machine rates wander, CPU per message
 * much less, and it shows which process is the bottleneck.
 *
 * KBUS_BENCH_ONLY=a,c runs only those measurements; KBUS_BENCH_RUNS=10 times
 * (a) ten times instead of three. KBUS_BENCH_PROFILE=DIR
 * starts kbusd, the relay and every client under --cpu-prof, writing
 * .cpuprofile files into DIR/kbusd, DIR/relay and DIR/<client> (such as
 * DIR/kbus-sender) when they stop; `node dist/bench/cpuprofile.js FILE`
 * summarises one.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { LegTimes } from './fixtures/ipc.js';
import type { KbusPeerArgs } from './fixtures/kbus-peer.js';
import type { RedisPeerArgs } from './fixtures/redis-peer.js';
import type { RelayPeerArgs } from './fixtures/relay-peer.js';
import type { WirePeerArgs } from './fixtures/wire-peer.js';
import { type Check, checked, count, line } from './harness.js';
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
import {
  cpuMs,
  Fleet,
  KBUS_PEER,
  kernelCounts,
  type Peer,
  profileFlags,
  REDIS_PEER,
  RELAY_PEER,
  rssKiB,
  type Server,
  WIRE_PEER,
} from './processes.js';

const SMALL = 64;
const LARGE = 64 * 1024;
const WARMUP_MS = 1000;
const RUNS = 3;
const RUN_MS = 1000;
const RTT_RUNS = 3;
const RTT_MS = 1000;
/** The performance goals these figures are held to. */
const FLOOR_RATIO = 0.25;
const CEILING_P50_RATIO = 1.5;
/**
 * 1 -> 1 announcements through kbusd with a bare protocol client: at least
 * this share of the relay's rate in every paired run (the lowest, not the
 * median). KBUS_BENCH_RUNS=10 makes the ten-run series.
 */
const WIRE_FLOOR_RATIO = 0.6;

/** Timed runs of (a): KBUS_BENCH_RUNS, or RUNS. */
function floorRuns(): number {
  const n = Number(process.env.KBUS_BENCH_RUNS ?? RUNS);
  return Number.isInteger(n) && n >= 1 ? n : RUNS;
}
const IDLE_KSOCKS = 1000;
/**
 * The queue limit listeners ask for: far above what a sender keeps in
 * flight, and high enough that a kbusd run (its sends capped below it, see
 * maxPerRun) lasts about as long as the relay's, a second or so; shorter
 * runs would mostly measure their own start and finish.
 */
const LISTENER_MAX_MESSAGES = 1_000_000;

type Side = 'kbusd' | 'relay';
const SIDES: readonly Side[] = ['kbusd', 'relay'];
/**
 * Who is timed in the throughput measurements: kbusd with the project's
 * client, kbusd with a bare protocol client (bench/fixtures/wire-peer.ts,
 * so that the figure does not depend on one client), and the relay.
 */
type FlowSide = 'kbusd' | 'kbusd-wire' | 'relay';
const FLOW_SIDES: readonly FlowSide[] = ['kbusd', 'kbusd-wire', 'relay'];
/** The server a flow side runs through. */
const serverOf = (side: FlowSide): Side => (side === 'relay' ? 'relay' : 'kbusd');
/** The bare client's names: its own, so that the other flow's listeners do not hear it. */
const wireName = (name: string) => name.replace(/^\$\.bench\./, '$.benchwire.');

interface Servers {
  kbusd: Server;
  relay: Server;
}

interface Context {
  fleet: Fleet;
  servers: Servers;
}

function mb(kib: number): string {
  return `${(kib / 1024).toFixed(1)} MB`;
}

export function ratioText(x: number): string {
  return `${x.toFixed(2)}x`;
}

export function progress(text: string): void {
  console.log(`  .. ${text}`);
}

/** The 1-minute load average: other work on the machine skews every figure. */
export function load(): string {
  return `load ${os.loadavg()[0]!.toFixed(2)} on ${os.cpus().length} cores`;
}

// --- Fixtures ---------------------------------------------------------------------

/** A sender and its listeners on one side. */
interface Flow {
  sender: Peer;
  listeners: Peer[];
}

interface FlowSpec {
  /** Listener processes. */
  listeners: number;
  /** What kbus listeners bind, and what the kbus sender sends. */
  bindName: string;
  sendName: string;
  /** Data bytes per message. */
  size: number;
  /** Messages sent per batch, and the most in flight (kbus) before awaiting a batch. */
  batch: number;
  window: number;
  /** Timed runs after the warm-up (RUNS unless given). */
  runs?: number;
}

/**
 * The most a kbusd sender sends in one run. An announcement's SENDMSG is
 * answered once the message is queued for its listeners, not once they have
 * read it, so acknowledgements alone do not stop a sender from running
 * ahead of a slower listener, and a listener's full queue drops messages
 * (Kbus.txt: a full listener simply misses the message). Each run starts
 * with every queue empty (the previous run was received in full), so
 * sending fewer than the listener's MAXMSGS per run can never overflow it.
 * Large messages are capped by bytes too, to bound the daemon's memory.
 * A queue is full by bytes too (--max-queue-bytes): kbusd runs here with
 * byte budgets above what a run can queue (KBUSD_OPTIONS).
 * (The relay needs no cap: its sockets' backpressure reaches the sender.)
 */
function maxPerRun(size: number): number {
  return Math.min(Math.floor(0.9 * LISTENER_MAX_MESSAGES), Math.floor((64 * 2 ** 20) / size));
}

/**
 * Byte budgets that a run never reaches (see maxPerRun): 900,000 small
 * messages of under 200 bytes, or 64 MiB of large ones, per listener, and
 * four listeners in (b).
 */
const KBUSD_OPTIONS = ['--max-queue-bytes', '256M', '--max-total-queue-bytes', '2G'];

const RELAY_CHANNEL = 10;

async function startFlow(ctx: Context, side: FlowSide, spec: FlowSpec): Promise<Flow> {
  const socket = ctx.servers[serverOf(side)].socket;
  const listen = (i: number) =>
    side === 'kbusd'
      ? ctx.fleet.fork(`kbus listener ${i}`, KBUS_PEER, {
          role: 'listener',
          socket,
          name: spec.bindName,
          size: spec.size,
          maxMessages: LISTENER_MAX_MESSAGES,
        } satisfies KbusPeerArgs)
      : side === 'kbusd-wire'
        ? ctx.fleet.fork(`wire listener ${i}`, WIRE_PEER, {
            role: 'listener',
            socket,
            name: wireName(spec.bindName),
            size: spec.size,
            maxMessages: LISTENER_MAX_MESSAGES,
          } satisfies WirePeerArgs)
        : ctx.fleet.fork(`relay listener ${i}`, RELAY_PEER, {
            role: 'listener',
            socket,
            channel: RELAY_CHANNEL,
            size: spec.size,
          } satisfies RelayPeerArgs);
  const listeners = await Promise.all(Array.from({ length: spec.listeners }, (_, i) => listen(i)));
  if (side === 'kbusd') {
    for (const l of listeners) {
      const { maxMessages } = await l.call<{ maxMessages: number }>('info');
      if (maxMessages < LISTENER_MAX_MESSAGES)
        throw new Error(`kbusd gave a listener a queue of ${maxMessages}`);
    }
  }
  const sender =
    side === 'kbusd'
      ? await ctx.fleet.fork('kbus sender', KBUS_PEER, {
          role: 'sender',
          socket,
          name: spec.sendName,
          size: spec.size,
        } satisfies KbusPeerArgs)
      : side === 'kbusd-wire'
        ? await ctx.fleet.fork('wire sender', WIRE_PEER, {
            role: 'sender',
            socket,
            name: wireName(spec.sendName),
            size: spec.size,
          } satisfies WirePeerArgs)
        : await ctx.fleet.fork('relay sender', RELAY_PEER, {
            role: 'sender',
            socket,
            channel: RELAY_CHANNEL,
            size: spec.size,
          } satisfies RelayPeerArgs);
  return { sender, listeners };
}

/**
 * CPU used by a side's processes over its timed runs (user + system, from
 * /proc): per operation (message delivered, round trip), which a busy
 * machine disturbs less than rates, and as a share of one core, which
 * shows the bottleneck.
 */
export class CpuUsage {
  private readonly used: number[];
  private before: number[] = [];
  /** Read and write calls, and sleeps, of each process over the runs (kernelCounts). */
  private readonly kernel: { reads: number; writes: number; sleeps: number }[];
  private kernelBefore: { reads: number; writes: number; sleeps: number }[] = [];
  private wallMs = 0;
  private t0 = 0;
  private ops = 0;

  constructor(private readonly processes: readonly (readonly [label: string, pid: number])[]) {
    this.used = processes.map(() => 0);
    this.kernel = processes.map(() => ({ reads: 0, writes: 0, sleeps: 0 }));
  }

  static forFlow(server: string, pid: number, flow: Flow): CpuUsage {
    const listeners = flow.listeners.map(
      (l, i) =>
        [flow.listeners.length > 1 ? `listener ${i + 1}` : 'listener', l.process.pid!] as const,
    );
    return new CpuUsage([[server, pid], ['sender', flow.sender.process.pid!], ...listeners]);
  }

  start(): void {
    this.before = this.processes.map(([, pid]) => cpuMs(pid));
    this.kernelBefore = this.processes.map(([, pid]) => kernelCounts(pid));
    this.t0 = performance.now();
  }

  stop(ops: number): void {
    this.wallMs += performance.now() - this.t0;
    this.ops += ops;
    this.processes.forEach(([, pid], i) => {
      this.used[i]! += cpuMs(pid) - this.before[i]!;
      const now = kernelCounts(pid);
      const was = this.kernelBefore[i]!;
      const k = this.kernel[i]!;
      k.reads += now.reads - was.reads;
      k.writes += now.writes - was.writes;
      k.sleeps += now.sleeps - was.sleeps;
    });
  }

  /** "reads/writes/sleeps per OP: kbusd 0.01/0.02/0.01, sender ..." (see kernelCounts). */
  kernelText(op: string): string {
    const per = (n: number) => {
      const v = n / this.ops;
      return v >= 0.1 ? v.toFixed(2) : v.toPrecision(2);
    };
    const each = this.processes.map(
      ([label], i) =>
        `${label} ${per(this.kernel[i]!.reads)}/${per(this.kernel[i]!.writes)}/${per(this.kernel[i]!.sleeps)}`,
    );
    return `reads/writes/sleeps per ${op}: ${each.join(', ')}`;
  }

  /** "cpu us per OP: kbusd 9.1, sender 3.0, ...; total 15.2 (busy: 51% 17% ... of a core)" */
  text(op: string): string {
    const us = (ms: number) => ((ms * 1000) / this.ops).toFixed(2);
    const pct = (ms: number) => `${((100 * ms) / this.wallMs).toFixed(0)}%`;
    const total = this.used.reduce((a, b) => a + b, 0);
    const each = this.processes.map(([label], i) => `${label} ${us(this.used[i]!)}`);
    return `cpu us per ${op}: ${each.join(', ')}; total ${us(total)} (busy: ${this.used.map(pct).join(' ')} of a core)`;
  }
}

// --- Throughput ---------------------------------------------------------------------

interface FlowResult {
  /** Median messages delivered per second (summed over listeners). */
  perSecond: Record<FlowSide, number>;
  /** Median of the paired runs' kbusd / relay ratios. */
  ratio: number;
  /** The same with the bare protocol client: kbusd-wire / relay. */
  wireRatio: number;
  /** Every paired run's kbusd-wire / relay ratio, in order. */
  wireRatios: number[];
  checks: Check[];
}

/**
 * Starts both sides, warms them up, then alternates timed runs. Each run:
 * the sender pipelines for RUN_MS, then every listener must receive all it
 * sent; the rate is messages delivered over the time from the first send
 * to the last receipt.
 */
async function throughput(
  ctx: Context,
  title: string,
  spec: FlowSpec,
  unit: (perSecond: number) => string,
): Promise<FlowResult> {
  progress(`${title}: starting ${spec.listeners + 1} client processes per side (${load()})`);
  const flows = {} as Record<FlowSide, Flow>;
  for (const side of FLOW_SIDES) flows[side] = await startFlow(ctx, side, spec);
  const totals = Object.fromEntries(
    FLOW_SIDES.map((s) => [
      s,
      { expected: 0, delivered: 0, bad: 0, failed: 0, errors: [] as string[] },
    ]),
  ) as Record<
    FlowSide,
    { expected: number; delivered: number; bad: number; failed: number; errors: string[] }
  >;
  const rates: Record<FlowSide, number[]> = { kbusd: [], 'kbusd-wire': [], relay: [] };
  const usage = {
    kbusd: CpuUsage.forFlow('kbusd', ctx.servers.kbusd.pid, flows.kbusd),
    'kbusd-wire': CpuUsage.forFlow('kbusd', ctx.servers.kbusd.pid, flows['kbusd-wire']),
    relay: CpuUsage.forFlow('relay', ctx.servers.relay.pid, flows.relay),
  };
  const runs = spec.runs ?? RUNS;
  try {
    for (let run = 0; run <= runs; run++) {
      const warmup = run === 0;
      const texts: string[] = [];
      for (const side of FLOW_SIDES) {
        if (!warmup) usage[side].start();
        const r = await flowRun(flows[side], warmup ? WARMUP_MS : RUN_MS, {
          ...spec,
          max: side === 'relay' ? 0 : maxPerRun(spec.size),
        });
        if (!warmup) usage[side].stop(r.delivered);
        const t = totals[side];
        t.expected += r.expected;
        t.delivered += r.delivered;
        t.bad += r.bad;
        t.failed += r.failed;
        if (r.firstError) t.errors.push(r.firstError);
        if (!warmup) rates[side].push(r.perSecond);
        texts.push(`${side} ${unit(r.perSecond)}`);
      }
      progress(`${title}: ${warmup ? 'warm-up' : `run ${run}/${runs}`}: ${texts.join(', ')}`);
    }
  } finally {
    await ctx.fleet.kill([...FLOW_SIDES.flatMap((s) => [flows[s].sender, ...flows[s].listeners])]);
  }
  const pairs = rates.kbusd.map((k, i) => k / rates.relay[i]!);
  const wirePairs = rates['kbusd-wire'].map((k, i) => k / rates.relay[i]!);
  const label = (side: FlowSide) => (side === 'kbusd-wire' ? 'kbusd, bare client' : side);
  for (const side of FLOW_SIDES)
    console.log(`    ${label(side)}: ${usage[side].text('message delivered')}`);
  for (const side of FLOW_SIDES)
    console.log(`    ${label(side)}: ${usage[side].kernelText('message delivered')}`);
  const checks: Check[] = FLOW_SIDES.map((side) => {
    const t = totals[side];
    const lost = t.expected - t.delivered;
    const ok = lost === 0 && t.bad === 0 && t.failed === 0;
    console.log(
      `    verified ${side}: ${count(t.delivered)} of ${count(t.expected)} delivered, ${count(lost)} lost, ${count(t.bad)} bad, ${count(t.failed)} sends failed${ok ? '' : '  FAIL'}`,
    );
    for (const e of t.errors.slice(0, 1)) console.log(`    first send error: ${e.split('\n')[0]}`);
    return { label: `${title}, ${side}: nothing lost`, pass: ok, kind: 'verify' } satisfies Check;
  });
  return {
    perSecond: {
      kbusd: median(rates.kbusd),
      'kbusd-wire': median(rates['kbusd-wire']),
      relay: median(rates.relay),
    },
    ratio: median(pairs),
    wireRatio: median(wirePairs),
    wireRatios: wirePairs,
    checks,
  };
}

// --- Round trips --------------------------------------------------------------------

/** Who is timed in (c): kbusd with the project's client, kbusd with a bare protocol client, the relay. */
type Rtt = 'kbusd' | 'kbusd-wire' | 'relay' | 'redis';
const RTT_TEXT: Record<Rtt, string> = {
  kbusd: 'kbusd, kbus client',
  'kbusd-wire': 'kbusd, bare protocol client',
  relay: 'relay',
  redis: 'Redis pub/sub',
};

async function roundTrips(ctx: Context, title: string): Promise<Check[]> {
  progress(`${title}: starting a requester and a responder for each (${load()})`);
  // Redis too, where redis-server is installed: the same four hops through pub/sub.
  const redis = await ctx.fleet.startRedis();
  const RTTS: Rtt[] = ['kbusd', 'kbusd-wire', 'relay', ...(redis ? (['redis'] as const) : [])];
  if (!redis) console.log('    (redis-server not found: no Redis figures)');
  const name = '$.bench.rpc';
  const k = ctx.servers.kbusd.socket;
  const kbusArgs = { socket: k, name, size: SMALL };
  const start = (rtt: Rtt, role: 'requester' | 'responder') =>
    rtt === 'kbusd'
      ? ctx.fleet.fork(`kbus ${role}`, KBUS_PEER, { role, ...kbusArgs })
      : rtt === 'kbusd-wire'
        ? ctx.fleet.fork(`wire ${role}`, WIRE_PEER, {
            role,
            ...kbusArgs,
            name: '$.bench.rpcwire',
          } satisfies WirePeerArgs)
        : rtt === 'redis'
          ? ctx.fleet.fork(`redis ${role}`, REDIS_PEER, {
              role,
              socket: redis!.socket,
              size: SMALL,
            } satisfies RedisPeerArgs)
          : ctx.fleet.fork(`relay ${role}`, RELAY_PEER, {
              role,
              socket: ctx.servers.relay.socket,
              channel: 20,
              size: SMALL,
            } satisfies RelayPeerArgs);
  const responders = await Promise.all(RTTS.map((r) => start(r, 'responder')));
  const requesters = await Promise.all(RTTS.map((r) => start(r, 'requester')));
  const peers = Object.fromEntries(
    RTTS.map((r, i) => [r, { requester: requesters[i]!, responder: responders[i]! }]),
  ) as Record<Rtt, { requester: Peer; responder: Peer }>;
  const server = (r: Rtt): readonly [string, number] =>
    r === 'redis'
      ? ['redis', redis!.pid]
      : r === 'relay'
        ? ['relay', ctx.servers.relay.pid]
        : ['kbusd', ctx.servers.kbusd.pid];
  const usage = Object.fromEntries(
    RTTS.map((r) => [
      r,
      new CpuUsage([
        server(r),
        ['requester', peers[r].requester.process.pid!],
        ['responder', peers[r].responder.process.pid!],
      ]),
    ]),
  ) as Record<Rtt, CpuUsage>;
  const samples = Object.fromEntries(RTTS.map((r) => [r, [] as number[]])) as Record<Rtt, number[]>;
  const perSecond = Object.fromEntries(RTTS.map((r) => [r, [] as number[]])) as Record<
    Rtt,
    number[]
  >;
  const p50s = Object.fromEntries(RTTS.map((r) => [r, [] as number[]])) as Record<Rtt, number[]>;
  const legs = Object.fromEntries(RTTS.map((r) => [r, emptyLegs()])) as Record<Rtt, Legs>;
  const bad = Object.fromEntries(RTTS.map((r) => [r, 0])) as Record<Rtt, number>;
  try {
    for (let run = 0; run <= RTT_RUNS; run++) {
      const warmup = run === 0;
      const texts: string[] = [];
      for (const r of RTTS) {
        if (!warmup) usage[r].start();
        const result = await latencyRun(peers[r].requester, warmup ? WARMUP_MS : RTT_MS);
        if (!warmup) usage[r].stop(result.sorted.length);
        await peers[r].responder.call('check');
        // Taken after the warm-up too, so that only timed runs' are kept.
        const answered = await peers[r].responder.call<LegTimes>('legs');
        bad[r] += result.bad;
        const p50 = percentile(result.sorted, 0.5);
        texts.push(`${r} p50 ${p50.toFixed(0)} us`);
        if (warmup) continue;
        if (result.sent) addLegs(legs[r], result.sent, answered);
        samples[r].push(...result.sorted);
        perSecond[r].push(result.perSecond);
        p50s[r].push(p50);
      }
      progress(`${title}: ${warmup ? 'warm-up' : `run ${run}/${RTT_RUNS}`}: ${texts.join(', ')}`);
    }
  } finally {
    await ctx.fleet.kill([...requesters, ...responders]);
    await redis?.stop();
  }
  const stats = Object.fromEntries(
    RTTS.map((r) => {
      const sorted = samples[r].sort((a, b) => a - b);
      return [
        r,
        {
          n: sorted.length,
          rate: median(perSecond[r]),
          p50: percentile(sorted, 0.5),
          p99: percentile(sorted, 0.99),
        },
      ];
    }),
  ) as Record<Rtt, { n: number; rate: number; p50: number; p99: number }>;
  for (const r of RTTS) {
    const s = stats[r];
    line(
      `${title}, ${RTT_TEXT[r]}`,
      `${count(s.rate)} rt/s`,
      `p50 ${s.p50.toFixed(0)} us, p99 ${s.p99.toFixed(0)} us (${count(s.n)} round trips)`,
    );
  }
  for (const r of RTTS) console.log(`    ${RTT_TEXT[r]}: ${usage[r].text('round trip')}`);
  for (const r of RTTS) console.log(`    ${RTT_TEXT[r]}: ${usage[r].kernelText('round trip')}`);
  for (const r of RTTS) console.log(`    ${RTT_TEXT[r]}: ${legsText(legs[r])}`);
  // Runs alternate, so run i of each saw about the same machine: compare pairwise.
  const pairwise = (r: Rtt, to: Rtt = 'relay') => median(p50s[r].map((p, i) => p / p50s[to][i]!));
  const ratio = pairwise('kbusd');
  const wireRatio = pairwise('kbusd-wire');
  const checks: Check[] = [
    checked(
      `${title}, p50 kbusd / relay`,
      ratioText(ratio),
      ratio <= CEILING_P50_RATIO,
      `ceiling ${CEILING_P50_RATIO}x`,
      '(median of paired runs)',
    ),
  ];
  line(
    `${title}, p50 kbusd (bare client) / relay`,
    ratioText(wireRatio),
    '(median of paired runs)',
  );
  if (redis) {
    line(`${title}, p50 kbusd / Redis`, ratioText(pairwise('kbusd', 'redis')), '(kbus client)');
    line(`${title}, p50 kbusd (bare client) / Redis`, ratioText(pairwise('kbusd-wire', 'redis')));
  }
  for (const r of RTTS) {
    const ok = bad[r] === 0;
    console.log(
      `    verified ${RTT_TEXT[r]}: ${count(bad[r])} replies missing or mismatched${ok ? '' : '  FAIL'}`,
    );
    checks.push({ label: `${title}, ${r}: every reply matched`, pass: ok, kind: 'verify' });
  }
  return checks;
}

// --- Memory -----------------------------------------------------------------------------

/** The soft limit on open files, from /proc/self/limits. */
function openFileLimit(): number {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
  return match?.[1] === undefined || match[1] === 'unlimited' ? Infinity : Number(match[1]);
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** RSS of a fresh server idle, then with `n` idle connections from one client process. */
async function memory(fleet: Fleet): Promise<void> {
  // Each side needs n descriptors in the client and n in the server (children inherit our limit).
  const limit = openFileLimit();
  const n = Math.min(IDLE_KSOCKS, limit - 100);
  if (n < IDLE_KSOCKS)
    console.log(`    (open files limited to ${limit} by ulimit -n: ${n} connections)`);
  for (const side of SIDES) {
    progress(`memory, ${side}: fresh server, then ${count(n)} idle connections`);
    const server = side === 'kbusd' ? await fleet.startKbusd() : await fleet.startRelay();
    await settle(300);
    const idle = rssKiB(server.pid);
    const client =
      side === 'kbusd'
        ? await fleet.fork('kbus idle', KBUS_PEER, {
            role: 'idle',
            socket: server.socket,
            name: '',
            size: 0,
          } satisfies KbusPeerArgs)
        : await fleet.fork('relay idle', RELAY_PEER, {
            role: 'idle',
            socket: server.socket,
            channel: 0,
            size: 0,
          } satisfies RelayPeerArgs);
    try {
      const opened = await client.call<number>('open', { count: n });
      await settle(500);
      const busy = rssKiB(server.pid);
      const what = side === 'kbusd' ? 'Ksocks' : 'connections';
      line(`memory, ${side} idle`, mb(idle), 'VmRSS');
      line(
        `memory, ${side} with ${count(opened)} idle ${what}`,
        mb(busy),
        `+${mb(busy - idle)}, ${((busy - idle) / opened).toFixed(1)} KB per ${side === 'kbusd' ? 'Ksock' : 'connection'}`,
      );
    } finally {
      await fleet.kill([client]);
      await server.stop();
    }
  }
}

// --- The section --------------------------------------------------------------------------

/**
 * KBUS_BENCH_ONLY=a,c runs only those measurements (all by default): the
 * daemon section's are a to e, the Limpet section's 1 and 2.
 */
export function only(key: string): boolean {
  const wanted = process.env.KBUS_BENCH_ONLY;
  return wanted === undefined || wanted === '' || wanted.split(',').includes(key);
}

const perSecond = (x: number) => `${count(x)} msg/s`;
const mbps = (x: number) => `${((x * LARGE) / 1e6).toFixed(0)} MB/s`;

async function oneToOne(ctx: Context): Promise<Check[]> {
  const title = '(a) 1 -> 1, 64-byte announcements';
  const one = await throughput(
    ctx,
    title,
    {
      listeners: 1,
      bindName: '$.bench.one',
      sendName: '$.bench.one',
      size: SMALL,
      batch: 500,
      window: 1000,
      runs: floorRuns(),
    },
    perSecond,
  );
  line(`${title}, kbusd`, perSecond(one.perSecond.kbusd));
  line(`${title}, kbusd, bare client`, perSecond(one.perSecond['kbusd-wire']));
  line(`${title}, relay`, perSecond(one.perSecond.relay));
  const lowest = Math.min(...one.wireRatios);
  console.log(
    `    kbusd (bare client) / relay, run by run: ${one.wireRatios.map(ratioText).join(' ')}`,
  );
  return [
    checked(
      '(a) 1 -> 1, kbusd / relay',
      ratioText(one.ratio),
      one.ratio >= FLOOR_RATIO,
      `floor ${FLOOR_RATIO}x`,
      '(median of paired runs)',
    ),
    checked(
      '(a) 1 -> 1, kbusd (bare client) / relay',
      ratioText(lowest),
      lowest >= WIRE_FLOOR_RATIO,
      `floor ${WIRE_FLOOR_RATIO}x`,
      `(the lowest of ${one.wireRatios.length} paired runs; median ${ratioText(one.wireRatio)})`,
    ),
    ...one.checks,
  ];
}

async function fanOut(ctx: Context): Promise<Check[]> {
  const title = "(b) 1 -> 4 listeners on '$.bench.*'";
  const fan = await throughput(
    ctx,
    title,
    {
      listeners: 4,
      bindName: '$.bench.*',
      sendName: '$.bench.fan',
      size: SMALL,
      batch: 500,
      window: 1000,
    },
    (x) => `${count(x)} delivered/s`,
  );
  line(`${title}, kbusd`, perSecond(fan.perSecond.kbusd), 'delivered');
  line(`${title}, kbusd, bare client`, perSecond(fan.perSecond['kbusd-wire']), 'delivered');
  line('(b) 1 -> 4 subscribers, relay', perSecond(fan.perSecond.relay), 'delivered');
  line('(b) 1 -> 4, kbusd / relay', ratioText(fan.ratio), '(median of paired runs)');
  line(
    '(b) 1 -> 4, kbusd (bare client) / relay',
    ratioText(fan.wireRatio),
    '(median of paired runs)',
  );
  return fan.checks;
}

async function large(ctx: Context): Promise<Check[]> {
  const title = '(d) 1 -> 1, 64 KiB messages';
  const big = await throughput(
    ctx,
    title,
    {
      listeners: 1,
      bindName: '$.bench.big',
      sendName: '$.bench.big',
      size: LARGE,
      batch: 16,
      window: 64,
    },
    mbps,
  );
  line(`${title}, kbusd`, mbps(big.perSecond.kbusd), perSecond(big.perSecond.kbusd));
  line(
    `${title}, kbusd, bare client`,
    mbps(big.perSecond['kbusd-wire']),
    perSecond(big.perSecond['kbusd-wire']),
  );
  line(`${title}, relay`, mbps(big.perSecond.relay), perSecond(big.perSecond.relay));
  line('(d) 64 KiB, kbusd / relay', ratioText(big.ratio), '(median of paired runs)');
  line(
    '(d) 64 KiB, kbusd (bare client) / relay',
    ratioText(big.wireRatio),
    '(median of paired runs)',
  );
  return big.checks;
}

/**
 * Runs one measurement; an error (a fixture that died, a timeout) is
 * reported as a failed check rather than ending the whole benchmark.
 */
export async function guarded(key: string, run: () => Promise<Check[]>): Promise<Check[]> {
  try {
    return await run();
  } catch (err) {
    console.log(`  ERROR in (${key}): ${(err as Error).stack ?? err}`);
    return [{ label: `(${key}) ran without error`, pass: false, kind: 'verify' }];
  }
}

export async function daemonSection(): Promise<Check[]> {
  const checks: Check[] = [];
  const fleet = new Fleet();
  try {
    if (only('a') || only('b') || only('c') || only('d')) {
      progress('starting kbusd and the relay');
      const [kbusd, relay] = await Promise.all([
        fleet.startKbusd(profileFlags('kbusd'), KBUSD_OPTIONS),
        fleet.startRelay(profileFlags('relay')),
      ]);
      const ctx: Context = { fleet, servers: { kbusd, relay } };
      console.log(
        `  (kbusd pid ${kbusd.pid}, relay pid ${relay.pid}, each client its own process; ${RUNS} runs of ${RUN_MS / 1000} s after a warm-up, alternating kbusd and relay; medians.`,
      );
      console.log(
        `   kbusd listeners ask for MAXMSGS ${count(LISTENER_MAX_MESSAGES)}; a kbusd run stops at ${count(maxPerRun(SMALL))} sends (${count(maxPerRun(LARGE))} of 64 KiB) so that no queue can overflow.)`,
      );
      if (only('a')) checks.push(...(await guarded('a', () => oneToOne(ctx))));
      if (only('b')) checks.push(...(await guarded('b', () => fanOut(ctx))));
      if (only('c'))
        checks.push(
          ...(await guarded('c', () => roundTrips(ctx, '(c) request/reply, 1 in flight'))),
        );
      if (only('d')) checks.push(...(await guarded('d', () => large(ctx))));
      await Promise.all([kbusd.stop(), relay.stop()]);
    }
    if (only('e'))
      checks.push(
        ...(await guarded('e', async () => {
          await memory(fleet);
          return [];
        })),
      );
  } finally {
    await fleet.stop();
  }
  return checks;
}
