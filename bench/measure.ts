/**
 * One timed run of the daemon section, driven from the parent: a sender
 * and its listeners (throughput), or a requester (round trips), each a
 * fixture process.
 */
import type { LegTimes, Received, RoundTrips, Sent } from './fixtures/ipc.js';
import type { Peer } from './processes.js';

/**
 * How long listeners may take, after the sender is done, to receive
 * everything (generous: a thousand listening Ksocks in four processes
 * drain slowly on two cores).
 */
const DRAIN_TIMEOUT_MS = 20_000;

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The `q` quantile (0..1) of sorted values, nearest rank. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export interface FlowRun {
  /** Messages the sender sent. */
  sent: number;
  /** Messages every listener should have received, summed. */
  expected: number;
  delivered: number;
  bad: number;
  failed: number;
  firstError: string | undefined;
  /** Delivered per second, from the first send to the last receipt. */
  perSecond: number;
  /** Milliseconds from the first send to the last receipt. */
  elapsedMs: number;
}

/**
 * One run: the sender sends for `ms` (or up to `max`), then every listener
 * process must receive all it sent, once for each of its `ksocks` (one
 * each unless given: a process may hold many listening Ksocks).
 */
export async function flowRun(
  flow: { sender: Peer; listeners: readonly Peer[]; ksocks?: readonly number[] },
  ms: number,
  options: { batch: number; window: number; max: number },
): Promise<FlowRun> {
  await Promise.all(flow.listeners.map((l) => l.call('reset')));
  const sent = await flow.sender.call<Sent>('run', { ms, ...options });
  const received = await Promise.all(
    flow.listeners.map((l) =>
      l.call<Received>('expect', { count: sent.sent, timeoutMs: DRAIN_TIMEOUT_MS }),
    ),
  );
  let delivered = 0;
  let bad = 0;
  let lastMs = sent.endMs;
  for (const r of received) {
    delivered += r.received;
    bad += r.bad;
    lastMs = Math.max(lastMs, r.lastMs);
  }
  const recipients = flow.ksocks?.reduce((a, b) => a + b, 0) ?? flow.listeners.length;
  return {
    sent: sent.sent,
    expected: sent.sent * recipients,
    delivered,
    bad,
    failed: sent.failed,
    firstError: sent.firstError,
    perSecond: (delivered * 1000) / (lastMs - sent.t0Ms),
    elapsedMs: lastMs - sent.t0Ms,
  };
}

export interface LatencyRun {
  /** Round-trip times in microseconds, ascending. */
  sorted: number[];
  perSecond: number;
  bad: number;
  /** The requester's LegTimes, if it keeps them. */
  sent: LegTimes | undefined;
}

export async function latencyRun(requester: Peer, ms: number): Promise<LatencyRun> {
  const r = await requester.call<RoundTrips>('run', { ms });
  const sorted = r.latenciesUs.sort((a, b) => a - b);
  return { sorted, perSecond: (sorted.length * 1000) / r.elapsedMs, bad: r.bad, sent: r.sent };
}

/** A round trip's legs, in microseconds, one entry per round trip. */
export interface Legs {
  /** From the requester's send until the responder has the request. */
  readonly there: number[];
  /** From then until the responder has handed its reply on. */
  readonly within: number[];
  /** From then until the requester has the reply. */
  readonly back: number[];
}

export function emptyLegs(): Legs {
  return { there: [], within: [], back: [] };
}

/**
 * Adds to `into` the legs of each round trip both sides timed, matched by
 * sequence number (every process reads the same monotonic clock).
 */
export function addLegs(into: Legs, requester: LegTimes, responder: LegTimes): void {
  const at = new Map<number, number>();
  for (let j = 0; j < responder.seqs.length; j++) at.set(responder.seqs[j]!, j);
  for (let i = 0; i < requester.seqs.length; i++) {
    const j = at.get(requester.seqs[i]!);
    if (j === undefined) continue;
    into.there.push((responder.startMs[j]! - requester.startMs[i]!) * 1000);
    into.within.push((responder.endMs[j]! - responder.startMs[j]!) * 1000);
    into.back.push((requester.endMs[i]! - responder.endMs[j]!) * 1000);
  }
}

/** The medians of `legs`, as one line of text. */
export function legsText(legs: Legs): string {
  const us = (values: number[]) => `${median(values).toFixed(0)} us`;
  return `a round trip's legs (medians of ${legs.there.length.toLocaleString('en-US')}): to the responder ${us(legs.there)}, in it ${us(legs.within)}, back ${us(legs.back)}`;
}
