/**
 * What the console knows of the bus: the snapshots kbusd's GET /api/state
 * gives, turned into rates (messages per second per device and per Ksock)
 * and kept for the chart over the last minutes. No DOM here.
 */
import type { ClusterView } from '../cluster/index.js';

export interface KsockState {
  readonly id: number;
  readonly pid: number;
  readonly mode: number;
  readonly queued: number;
  readonly maxMessages: number;
  readonly queuedBytes: number;
  readonly awaitingReplies: number;
  readonly unrepliedTo: number;
  readonly sent: number;
  readonly received: number;
  readonly missed: number;
  readonly bindings: readonly { readonly name: string; readonly replier: boolean }[];
}

export interface DeviceState {
  readonly index: number;
  readonly sent: number;
  readonly delivered: number;
  readonly missed: number;
  readonly refused: Readonly<Record<string, number>>;
  readonly status: Readonly<Record<string, number>>;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  readonly requestsOutstanding: number;
  readonly ksocks: readonly KsockState[];
}

/** In cluster mode: this bus, the others, and who holds each replier name (docs/cluster.md). */
export type ClusterState = ClusterView;

/**
 * How a binding reads in the console: a replier name that another bus
 * holds (the cluster agent's proxy) says which bus and Ksock really reply.
 */
export function bindingLabel(
  cluster: ClusterState | undefined,
  device: number,
  binding: { readonly name: string; readonly replier: boolean },
): string {
  if (!binding.replier) return binding.name;
  const owner = cluster?.repliers.find((r) => r.device === device && r.name === binding.name);
  return owner === undefined || owner.bus === cluster?.bus
    ? `R ${binding.name}`
    : `R ${binding.name} (bus ${owner.bus} Ksock ${owner.ksock})`;
}

export interface BusState {
  readonly time: number;
  readonly queuedBytes: number;
  readonly maxQueueBytes: number;
  readonly maxTotalQueueBytes: number;
  readonly devices: readonly DeviceState[];
  readonly listeners: readonly {
    readonly name: string;
    readonly accepted: number;
    readonly open: number;
    readonly refused: Readonly<Record<string, number>>;
  }[];
  readonly cluster?: ClusterState | undefined;
}

/** One point of the chart: when, and messages sent per second on each device since the point before. */
export interface RatePoint {
  readonly time: number;
  readonly perDevice: readonly number[];
}

/** How long the chart looks back. */
export const HISTORY_MS = 5 * 60_000;

export class BusModel {
  state: BusState | undefined;
  private previous: BusState | undefined;
  readonly history: RatePoint[] = [];

  /** Takes a new snapshot; returns the rates it gives against the one before. */
  update(next: BusState): void {
    this.previous = this.state;
    this.state = next;
    const before = this.previous;
    if (before === undefined) return;
    const seconds = (next.time - before.time) / 1000;
    if (seconds <= 0) return;
    const perDevice = next.devices.map((d) => {
      const old = before.devices.find((b) => b.index === d.index);
      return old === undefined ? 0 : Math.max(0, d.sent - old.sent) / seconds;
    });
    this.history.push({ time: next.time, perDevice });
    while (this.history.length > 0 && this.history[0]!.time < next.time - HISTORY_MS) {
      this.history.shift();
    }
  }

  /** Messages per second a Ksock sent and received, against the snapshot before. */
  ksockRates(device: number, ksock: KsockState): { out: number; in: number } {
    const before = this.previous;
    const now = this.state;
    if (before === undefined || now === undefined) return { out: 0, in: 0 };
    const seconds = (now.time - before.time) / 1000;
    const old = before.devices[device]?.ksocks.find((k) => k.id === ksock.id);
    if (old === undefined || seconds <= 0) return { out: 0, in: 0 };
    return {
      out: Math.max(0, ksock.sent - old.sent) / seconds,
      in: Math.max(0, ksock.received - old.received) / seconds,
    };
  }

  /** The WebSocket URLs kbusd listens on (its ws:// and wss:// listeners). */
  webSocketUrls(): string[] {
    return (this.state?.listeners ?? [])
      .map((l) => l.name)
      .filter((name) => name.startsWith('ws://') || name.startsWith('wss://'));
  }
}

/** A tree of names: each part of `$.a.b` a level, with who listens and who replies at each. */
export interface NameNode {
  readonly part: string;
  readonly children: Map<string, NameNode>;
  readonly listeners: number[];
  readonly repliers: number[];
}

export function bindingTree(device: DeviceState): NameNode {
  const root: NameNode = { part: '', children: new Map(), listeners: [], repliers: [] };
  for (const ksock of device.ksocks) {
    for (const binding of ksock.bindings) {
      let node = root;
      for (const part of binding.name.split('.')) {
        let child = node.children.get(part);
        if (child === undefined) {
          child = { part, children: new Map(), listeners: [], repliers: [] };
          node.children.set(part, child);
        }
        node = child;
      }
      (binding.replier ? node.repliers : node.listeners).push(ksock.id);
    }
  }
  return root;
}
