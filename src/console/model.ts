/**
 * What the console knows of the bus: the snapshots kbusd's GET /api/state
 * gives, turned into rates (messages per second per device and per Ksock)
 * and kept for the chart over the last minutes. No DOM here.
 */
import type { ClusterView } from '../cluster/index.js';
import type { KsockAbout } from '../protocol/describe.js';

/** What a Ksock says it is (DESCRIBE): a flat object. */
export type { KsockAbout } from '../protocol/describe.js';

export interface KsockState {
  readonly id: number;
  readonly pid: number;
  /** Who opened it, under a policy. */
  readonly identity?: string | undefined;
  /** What it says it is: a Limpet says `kind: 'limpet'` and its link. */
  readonly about?: KsockAbout | undefined;
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

/** A Limpet's link as the console shows it: from its Ksock's description while it is open. */
export interface LimpetLink {
  readonly device: number;
  readonly ksock: number;
  readonly networkId: number;
  readonly peerId: number;
  readonly role: string;
  readonly link: string;
  readonly filter: string;
  /** When the link came up, milliseconds since the Unix epoch. */
  readonly since: number;
  /** False once its Ksock has closed (the link went down, or the Limpet stopped). */
  readonly live: boolean;
  /** When the console saw its Ksock gone. */
  readonly goneAt?: number;
}

/** The Limpet a Ksock's description names, if it describes one. */
export function limpetOf(device: number, ksock: KsockState): LimpetLink | undefined {
  const a = ksock.about;
  if (a?.kind !== 'limpet') return undefined;
  const num = (v: unknown) => (typeof v === 'number' ? v : 0);
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  return {
    device,
    ksock: ksock.id,
    networkId: num(a.networkId),
    peerId: num(a.peerId),
    role: str(a.role),
    link: str(a.link),
    filter: str(a.filter),
    since: num(a.since),
    live: true,
  };
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
  /** Limpet links, live and (for HISTORY_MS after they went) gone, by "device:ksock". */
  private readonly links = new Map<string, LimpetLink>();

  /** Takes a new snapshot; returns the rates it gives against the one before. */
  update(next: BusState): void {
    this.previous = this.state;
    this.state = next;
    this.updateLinks(next);
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

  /** The Limpet links seen: live ones first, each group by device and Ksock. */
  limpetLinks(): LimpetLink[] {
    return [...this.links.values()].sort(
      (a, b) => Number(b.live) - Number(a.live) || a.device - b.device || a.ksock - b.ksock,
    );
  }

  private updateLinks(next: BusState): void {
    const seen = new Set<string>();
    for (const d of next.devices) {
      for (const k of d.ksocks) {
        const link = limpetOf(d.index, k);
        if (link === undefined) continue;
        const key = `${d.index}:${k.id}`;
        seen.add(key);
        this.links.set(key, link);
      }
    }
    for (const [key, link] of this.links) {
      if (seen.has(key)) continue;
      if (link.live) this.links.set(key, { ...link, live: false, goneAt: next.time });
      else if ((link.goneAt ?? 0) < next.time - HISTORY_MS) this.links.delete(key);
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
