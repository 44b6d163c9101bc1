/**
 * (3) of the cluster section: eight kbusd joined through one nats-server,
 * one sender on the first, and three names: one only a listener on the
 * sender's own bus wants (no other bus: interest routing publishes
 * nothing), one a listener on one other bus wants, and one a listener on
 * each of the seven others wants. For each, announcements sent per second
 * (each chunk received in full everywhere) and the CPU all eight kbusd and
 * the nats-server spend per announcement, runs alternating.
 */
import {
  type ClusterBus,
  chunkedRun,
  type Nats,
  range,
  startClusterBus,
  verified,
  waitAgent,
  zeroTotals,
} from './cluster-setup.js';
import { load, progress, ratioText } from './daemon.js';
import type { KbusPeerArgs } from './fixtures/kbus-peer.js';
import { type Check, count, line } from './harness.js';
import { median } from './measure.js';
import { cpuMs, type Fleet, KBUS_PEER, type Peer } from './processes.js';

const BUSES = 8;
const FIRST_BUS_ID = 11;
const WARMUP_MS = 1000;
const RUNS = 5;
const RUN_MS = 1500;
/**
 * Nine servers and their clients on a small machine starve one another: a
 * kbusd whose event loop stalls past the default --cluster-timeout (3 s) is
 * declared gone, and announcements in flight to it are lost (docs/cluster.md
 * section 7). Here the cost of routing is measured, not liveness.
 */
const CLUSTER_TIMEOUT_MS = 15_000;
/** Smaller chunks than (1): seven listeners' copies must arrive within the drain timeout. */
const CHUNK = 2000;

type Want = 'none' | 'one' | 'all';
const WANTS: readonly Want[] = ['none', 'one', 'all'];
const WANT_TEXT: Record<Want, string> = {
  none: 'no other bus wants it',
  one: 'one other bus wants it',
  all: 'all 7 other buses want it',
};

function listenerBuses(buses: readonly ClusterBus[], want: Want): ClusterBus[] {
  if (want === 'none') return [buses[0]!];
  if (want === 'one') return [buses[1]!];
  return buses.slice(1);
}

export async function fanoutSection(fleet: Fleet, nats: Nats): Promise<Check[]> {
  const title = `(3) ${BUSES} buses, 64-byte announcements from bus 1`;
  progress(
    `${title}: starting ${BUSES} kbusd, --cluster-timeout ${CLUSTER_TIMEOUT_MS} ms (${load()})`,
  );
  const buses: ClusterBus[] = [];
  for (let i = 0; i < BUSES; i++)
    buses.push(
      await startClusterBus(fleet, nats.url, FIRST_BUS_ID + i, [
        '--cluster-timeout',
        String(CLUSTER_TIMEOUT_MS),
      ]),
    );
  const flows = {} as Record<Want, { sender: Peer; listeners: Peer[] }>;
  const pids = [nats.server.pid, ...buses.map((b) => b.server.pid)];
  const watches = buses.map((b) => b.watch);
  try {
    for (const want of WANTS) {
      const name = `$.fan.${want}`;
      const args = (bus: ClusterBus, role: KbusPeerArgs['role']): KbusPeerArgs => ({
        role,
        socket: bus.server.socket,
        name,
        size: 64,
        maxMessages: 100_000,
      });
      const listeners: Peer[] = [];
      for (const bus of listenerBuses(buses, want))
        listeners.push(
          await fleet.fork(`${want} listener ${bus.busId}`, KBUS_PEER, args(bus, 'listener')),
        );
      if (want !== 'none') await waitAgent(buses[0]!, 'L', name);
      const sender = await fleet.fork(`${want} sender`, KBUS_PEER, args(buses[0]!, 'sender'));
      flows[want] = { sender, listeners };
    }
    const totals = { none: zeroTotals(), one: zeroTotals(), all: zeroTotals() };
    const rates: Record<Want, number[]> = { none: [], one: [], all: [] };
    const cpu: Record<Want, number[]> = { none: [], one: [], all: [] };
    const cpuNow = () => pids.reduce((sum, pid) => sum + cpuMs(pid), 0);
    for (let run = 0; run <= RUNS; run++) {
      const warmup = run === 0;
      const texts: string[] = [];
      for (const want of WANTS) {
        const before = cpuNow();
        const r = await chunkedRun(
          flows[want],
          watches,
          warmup ? WARMUP_MS : RUN_MS,
          totals[want],
          CHUNK,
        );
        const usPer = ((cpuNow() - before) * 1000) / r.sent;
        texts.push(`${want} ${count(r.sentPerSecond)} msg/s ${usPer.toFixed(0)} us`);
        if (warmup) continue;
        rates[want].push(r.sentPerSecond);
        cpu[want].push(usPer);
      }
      progress(`${title}: ${warmup ? 'warm-up' : `run ${run}/${RUNS}`}: ${texts.join(', ')}`);
    }
    for (const want of WANTS)
      line(
        `${title}, ${WANT_TEXT[want]}`,
        `${count(median(rates[want]))} msg/s`,
        `runs ${range(rates[want])}; cpu ${median(cpu[want]).toFixed(0)} us/msg (runs ${range(cpu[want])}) in the kbusd and nats-server processes`,
      );
    for (const [x, y] of [
      ['all', 'one'],
      ['one', 'none'],
    ] as const) {
      const cost = cpu[x].map((v, i) => v / cpu[y][i]!);
      const rate = rates[x].map((v, i) => v / rates[y][i]!);
      line(
        `${title}, ${x} / ${y}`,
        `cpu ${ratioText(median(cost))}`,
        `runs ${range(cost, 2)}; rate ${ratioText(median(rate))}, runs ${range(rate, 2)} (paired runs)`,
      );
    }
    const checks: Check[] = WANTS.map((want) => ({
      label: `${title}, ${WANT_TEXT[want]}: nothing lost`,
      pass: verified(WANT_TEXT[want], totals[want]),
      kind: 'verify',
    }));
    if (checks.some((c) => !c.pass)) {
      // Where a loss came from: NATS dropping a slow client, a bus losing NATS.
      const odd = /slow consumer|error|disconnect|connection back|gone/i;
      for (const l of nats.server
        .stderr()
        .split('\n')
        .filter((l) => odd.test(l))
        .slice(0, 10))
        console.log(`    nats-server: ${l}`);
      for (const b of buses)
        for (const l of b.server
          .stderr()
          .split('\n')
          .filter((l) => odd.test(l))
          .slice(0, 5))
          console.log(`    kbusd ${b.busId}: ${l}`);
    }
    return checks;
  } finally {
    await fleet.kill(
      WANTS.flatMap((w) => (flows[w] ? [flows[w].sender, ...flows[w].listeners] : [])),
    );
    await Promise.all(buses.map((b) => b.watch.close()));
    await Promise.all(buses.map((b) => b.server.stop()));
  }
}
