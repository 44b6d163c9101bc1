/**
 * What the cluster benchmark shares: finding nats-server, starting it with
 * JetStream on a free 127.0.0.1 port, starting kbusd processes joined to it,
 * chunked announcement runs (as in the Limpet section) and waiting for
 * interest and proxies to reach a bus.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ksock } from '../src/index.js';
import { freePort, quiet, until } from './limpet.js';
import { flowRun } from './measure.js';
import type { Fleet, Peer, Server } from './processes.js';

/** Sends per chunk: far under the agent's queue (100,000) and NATS's pending limit (65,536). */
export const CHUNK = 8000;
export const BATCH = 500;
export const WINDOW = 1000;
/** How long interest or a proxy may take to reach a bus. */
export const JOIN_TIMEOUT_MS = 15_000;
/** The agent's Ksock is the first opened on each device of a clustered kbusd. */
const AGENT = 1;

/** The nats-server to run ($NATS_SERVER, else the one on PATH), or undefined if there is none. */
export function natsServer(): string | undefined {
  const path = process.env.NATS_SERVER ?? 'nats-server';
  const found = spawnSync(path, ['--version'], { encoding: 'utf8' });
  return found.status === 0 ? path : undefined;
}

export interface Nats {
  readonly server: Server;
  readonly url: string;
  /** Removes its JetStream store (after it stopped). */
  remove(): void;
}

export async function startNats(fleet: Fleet, command: string): Promise<Nats> {
  const port = await freePort();
  const store = mkdtempSync(join(tmpdir(), 'kbus-bench-nats-'));
  const server = await fleet.startProgram(
    'nats-server',
    command,
    ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store],
    'Server is ready',
  );
  return {
    server,
    url: `nats://127.0.0.1:${port}`,
    remove: () => rmSync(store, { recursive: true, force: true }),
  };
}

/** A kbusd joined to the cluster as bus `busId`, and a Ksock on it to watch it. */
export interface ClusterBus {
  readonly server: Server;
  readonly watch: Ksock;
  readonly busId: number;
}

export async function startClusterBus(
  fleet: Fleet,
  url: string,
  busId: number,
  options: readonly string[] = [],
): Promise<ClusterBus> {
  const server = await fleet.startKbusd(
    [],
    ['--cluster', url, '--bus-id', String(busId), ...options],
  );
  const watch = await Ksock.connect({ socket: server.socket });
  return { server, watch, busId };
}

/** Waits until the agent on `bus` is bound to `name` as listener (L) or proxy replier (R). */
export async function waitAgent(bus: ClusterBus, kind: 'L' | 'R', name: string): Promise<void> {
  const bound = async () =>
    (await bus.watch.bindings()).split('\n').some((line) => {
      const m = /^\s*0:\s+(\d+)\s+\d+\s+([LR])\s+(\S+)$/.exec(line);
      return m !== null && Number(m[1]) === AGENT && m[2] === kind && m[3] === name;
    });
  await until(
    bound,
    JOIN_TIMEOUT_MS,
    () => `the agent on bus ${bus.busId} to bind ${kind} ${name}`,
  );
}

export interface Totals {
  expected: number;
  delivered: number;
  bad: number;
  failed: number;
  chunks: number;
  errors: string[];
}

export const zeroTotals = (): Totals => ({
  expected: 0,
  delivered: 0,
  bad: 0,
  failed: 0,
  chunks: 0,
  errors: [],
});

/**
 * One run: chunks of CHUNK sends, each received in full by every listener
 * and followed by empty queues on `watches`, until `ms` of chunk time have
 * passed. Returns messages sent per second (from each chunk's first send to
 * its last receipt) and what was delivered.
 */
export async function chunkedRun(
  flow: { sender: Peer; listeners: readonly Peer[] },
  watches: readonly Ksock[],
  ms: number,
  totals: Totals,
  chunk = CHUNK,
): Promise<{ sentPerSecond: number; sent: number }> {
  let sent = 0;
  let elapsedMs = 0;
  while (elapsedMs < ms) {
    const r = await flowRun(flow, 60_000, { batch: BATCH, window: WINDOW, max: chunk });
    totals.expected += r.expected;
    totals.delivered += r.delivered;
    totals.bad += r.bad;
    totals.failed += r.failed;
    totals.chunks++;
    if (r.firstError) totals.errors.push(r.firstError);
    sent += r.expected / flow.listeners.length;
    elapsedMs += r.elapsedMs;
    if (r.delivered !== r.expected || r.bad > 0 || r.failed > 0) break;
    await quiet(watches);
  }
  return { sentPerSecond: (sent * 1000) / elapsedMs, sent };
}

/** "12,345..15,678" for the runs' values (min..max). */
export function range(values: readonly number[], digits = 0): string {
  const fmt = (x: number) =>
    x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return `${fmt(Math.min(...values))}..${fmt(Math.max(...values))}`;
}

/** Prints the verification of a flow's totals and returns its check's pass. */
export function verified(label: string, t: Totals): boolean {
  const lost = t.expected - t.delivered;
  const ok = lost === 0 && t.bad === 0 && t.failed === 0;
  console.log(
    `    verified ${label}: ${t.delivered.toLocaleString('en-US')} of ${t.expected.toLocaleString('en-US')} delivered in ${t.chunks} chunks, ${lost} lost, ${t.bad} bad, ${t.failed} sends failed${ok ? '' : '  FAIL'}`,
  );
  for (const e of t.errors.slice(0, 1)) console.log(`    first send error: ${e.split('\n')[0]}`);
  return ok;
}
