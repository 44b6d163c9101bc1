/**
 * The connections sweep of the scaling section: 10 to 10,000 Ksocks
 * connected to one kbusd (in a few crowd processes), first idle, then all
 * of them announcing at a low rate (a fixed total, so each Ksock once
 * every count/rate seconds). At each count: kbusd's memory (VmRSS) per
 * Ksock, and the request/reply round trip of one requester and replier
 * pair among them, p50 and p99.
 */
import { writeChart } from './chart.js';
import { load, progress } from './daemon.js';
import type { KbusPeerArgs } from './fixtures/kbus-peer.js';
import type { ScalePeerArgs } from './fixtures/scale-peer.js';
import { type Check, count } from './harness.js';
import { latencyRun, median, percentile } from './measure.js';
import { type Fleet, KBUS_PEER, type Peer, profileFlags, rssKiB, SCALE_PEER } from './processes.js';
import {
  CpuPer,
  openFiles,
  RUN_MS,
  RUNS,
  raiseOpenFiles,
  settle,
  split,
  spreadOf,
  table,
  Verified,
  WARMUP_MS,
  withRange,
} from './scaling-common.js';

const COUNTS = [10, 100, 1000, 10_000];
const CROWD_PROCESSES = 4;
/** Announcements per second from the whole crowd while active. */
const RATE = 5000;
/** Descriptors a process needs beyond its connections (Node's own, stdio, IPC). */
const SPARE_FILES = 200;

/** p50 of each run (median and range) and p99 of all runs' round trips, in us. */
async function roundTrips(
  requester: Peer,
  responder: Peer,
): Promise<{ p50: number[]; p99: number; bad: number }> {
  const p50: number[] = [];
  const all: number[] = [];
  let bad = 0;
  for (let i = 0; i <= RUNS; i++) {
    const r = await latencyRun(requester, i === 0 ? WARMUP_MS : RUN_MS);
    await responder.call('check');
    bad += r.bad;
    if (i === 0) continue;
    p50.push(percentile(r.sorted, 0.5));
    all.push(...r.sorted);
  }
  all.sort((a, b) => a - b);
  return { p50, p99: percentile(all, 0.99), bad };
}

const us = (x: number) => x.toFixed(0);

interface Point {
  n: number;
  baseKiB: number;
  idleKiB: number;
  activeKiB: number;
  connectsPerSecond: number;
  idle: { p50: number[]; p99: number; busy: string };
  active: { p50: number[]; p99: number; busy: string };
}

/**
 * One count: a fresh kbusd (so that its memory before the crowd is a clean
 * base), the pair and the counting listener, then `n` Ksocks in the crowd
 * processes; round trips idle, then active.
 */
async function point(
  fleet: Fleet,
  n: number,
  verified: Verified,
  replies: { bad: number },
): Promise<Point> {
  const title = `connections, ${count(n)} Ksocks`;
  progress(
    `${title}: starting kbusd, a requester, its replier and a counting listener (${load()})`,
  );
  const kbusd = await fleet.startKbusd(profileFlags(`kbusd-connections-${n}`));
  // kbusd holds every connection; each crowd process its share.
  if (raiseOpenFiles(kbusd.pid, n + SPARE_FILES) < n + SPARE_FILES)
    throw new Error(`kbusd may not open ${n} files`);
  const socket = kbusd.socket;
  const rpc = '$.scale.rpc';
  const peers: Peer[] = [];
  try {
    const fork = async (label: string, script: string, args: object) => {
      const peer = await fleet.fork(label, script, args);
      peers.push(peer);
      return peer;
    };
    const responder = await fork('kbus responder', KBUS_PEER, {
      role: 'responder',
      socket,
      name: rpc,
      size: 64,
    } satisfies KbusPeerArgs);
    const requester = await fork('kbus requester', KBUS_PEER, {
      role: 'requester',
      socket,
      name: rpc,
      size: 64,
    } satisfies KbusPeerArgs);
    const counter = await fork('scale counter', SCALE_PEER, {
      role: 'counter',
      socket,
      name: '$.scale.crowd.*',
      size: 64,
      maxMessages: 100_000,
    } satisfies ScalePeerArgs);
    const shares = split(n, CROWD_PROCESSES);
    const crowds = await Promise.all(
      shares.map((share, i) =>
        fork(`scale crowd ${i}`, SCALE_PEER, {
          role: 'crowd',
          socket,
          name: `$.scale.crowd.${i}`,
          size: 64,
        } satisfies ScalePeerArgs).then((crowd) => {
          if (raiseOpenFiles(crowd.process.pid!, share + SPARE_FILES) < share + SPARE_FILES)
            throw new Error(`a crowd process may not open ${share} files`);
          return crowd;
        }),
      ),
    );
    await settle(500);
    const baseKiB = rssKiB(kbusd.pid);
    progress(`${title}: connecting them in ${CROWD_PROCESSES} processes`);
    const t0 = performance.now();
    await Promise.all(crowds.map((c, i) => c.call('open', { count: shares[i]! }, 120_000)));
    const connectsPerSecond = (n * 1000) / (performance.now() - t0);
    await settle(500);
    const idleKiB = rssKiB(kbusd.pid);
    progress(`${title}, idle: round trips (${load()})`);
    let cpu = new CpuPer(kbusd.pid);
    cpu.start();
    const idle = await roundTrips(requester, responder);
    cpu.stop(1);
    const idleBusy = cpu.busy;

    progress(`${title}, active, ${count(RATE)} announcements/s in all: round trips (${load()})`);
    await Promise.all(crowds.map((c) => c.call('active', { rate: RATE / CROWD_PROCESSES })));
    cpu = new CpuPer(kbusd.pid);
    cpu.start();
    // Long enough (three and a half seconds) that every Ksock has sent at least once.
    const active = await roundTrips(requester, responder);
    cpu.stop(1);
    const activeKiB = rssKiB(kbusd.pid);
    const quiet = await Promise.all(
      crowds.map((c) =>
        c.call<{ sent: number; failed: number; firstError: string | undefined }>('quiet'),
      ),
    );
    const sent = quiet.reduce((a, q) => a + q.sent, 0);
    const got = await counter.call<{ received: number; bad: number }>('expect', {
      count: sent,
      timeoutMs: 10_000,
    });
    verified.add({
      expected: sent,
      delivered: got.received,
      bad: got.bad,
      failed: quiet.reduce((a, q) => a + q.failed, 0),
      firstError: quiet.find((q) => q.firstError)?.firstError,
    });
    replies.bad += idle.bad + active.bad;
    progress(
      `${title}: ${((idleKiB - baseKiB) / n).toFixed(1)} KB each, p50 ${us(median(idle.p50))} us idle, ${us(median(active.p50))} us active (${count(sent)} announcements)`,
    );
    return {
      n,
      baseKiB,
      idleKiB,
      activeKiB,
      connectsPerSecond,
      idle: { ...idle, busy: idleBusy },
      active: { ...active, busy: cpu.busy },
    };
  } finally {
    await fleet.kill(peers);
    await kbusd.stop();
  }
}

export async function connectionsSweep(fleet: Fleet): Promise<Check[]> {
  // Each Ksock is a descriptor in kbusd and in its crowd process; children
  // inherit this process's limits, and prlimit may raise them to the hard one.
  const { soft, hard } = openFiles();
  const limit = Math.min(hard, 2 ** 20) - SPARE_FILES;
  const counts = COUNTS.filter((n) => n <= limit);
  if (counts.length < COUNTS.length) {
    counts.push(limit);
    console.log(
      `    (open files: ulimit -n ${soft}, hard limit ${hard}: the sweep stops at ${count(limit)} Ksocks)`,
    );
  }
  const verified = new Verified();
  const replies = { bad: 0 };
  const points: Point[] = [];
  for (const n of counts) points.push(await point(fleet, n, verified, replies));
  const mb = (kib: number) => `${(kib / 1024).toFixed(1)} MB`;
  table(
    `Connections: N Ksocks connected to one kbusd (in ${CROWD_PROCESSES} crowd processes, a fresh kbusd for each N), idle, then all active at ${count(RATE)} announcements/s in all (each Ksock once every N/${count(RATE)} s, to one listening Ksock); round trips of one requester and its replier among them (${RUNS} runs of ${RUN_MS / 1000} s: p50 median and range, p99 of all); memory per Ksock is kbusd's VmRSS with the N Ksocks, less before they connected, over N; kbusd busy is its CPU time as a share of one core while the round trips ran`,
    [
      'Ksocks',
      'kbusd RSS before',
      'idle',
      'KB per Ksock',
      'connects/s',
      'idle p50 µs',
      'idle p99 µs',
      'kbusd busy',
      'kbusd RSS active',
      'active p50 µs',
      'active p99 µs',
      'kbusd busy',
    ],
    points.map((p) => [
      count(p.n),
      mb(p.baseKiB),
      mb(p.idleKiB),
      ((p.idleKiB - p.baseKiB) / p.n).toFixed(1),
      count(p.connectsPerSecond),
      withRange(spreadOf(p.idle.p50), us),
      us(p.idle.p99),
      p.idle.busy,
      mb(p.activeKiB),
      withRange(spreadOf(p.active.p50), us),
      us(p.active.p99),
      p.active.busy,
    ]),
  );
  writeChart('scaling-connections.svg', {
    title: 'Connections: request/reply p50 among N connected Ksocks',
    subtitle: `one request in flight; median and range of ${RUNS} runs`,
    xLabel: 'Ksocks connected',
    yLabel: 'round trip p50, µs',
    xTick: count,
    series: [
      { name: 'the others idle', points: points.map((p) => ({ x: p.n, y: spreadOf(p.idle.p50) })) },
      {
        name: `the others announcing (${count(RATE)}/s)`,
        points: points.map((p) => ({ x: p.n, y: spreadOf(p.active.p50) })),
      },
    ],
  });
  const ok = replies.bad === 0;
  console.log(
    `    verified round trips: ${count(replies.bad)} replies missing or mismatched${ok ? '' : '  FAIL'}`,
  );
  return [
    verified.check('connections, the active crowd'),
    { label: 'scaling, connections: every reply matched', pass: ok, kind: 'verify' },
  ];
}
