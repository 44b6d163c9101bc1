/**
 * The bus as a monitor sees it (kbusd's /metrics, the console): the
 * devices' counters (counters.ts) beside what can be read off the current
 * state (Ksocks open, messages and bytes queued, requests outstanding),
 * computed when asked, by Engine.metrics().
 */
import { MessageNames } from '../wire/index.js';
import type { Device } from './device.js';
import type { QueueBudget } from './message-queue.js';

/** The status messages KBUS generates, so that a scrape shows each (at 0) before it first happens. */
export const STATUS_MESSAGE_NAMES: readonly string[] = [
  MessageNames.REPLIER_GONEAWAY,
  MessageNames.REPLIER_IGNORED,
  MessageNames.REPLIER_UNBOUND,
  MessageNames.REPLIER_DISAPPEARED,
  MessageNames.ERROR_SENDING,
  MessageNames.UNBIND_EVENTS_LOST,
  MessageNames.REPLIER_BIND_EVENT,
];

/** One Ksock as a monitor sees it. */
export interface KsockMetrics {
  readonly id: number;
  readonly pid: number;
  /** Who opened it, where the host knows (kbusd under a policy: the identity). */
  readonly identity?: string | undefined;
  /** What it says it is (DESCRIBE), such as a Limpet and its link. */
  readonly about?: Readonly<Record<string, string | number | boolean>> | undefined;
  /** OpenMode bits: 1 read, 2 write, 3 both. */
  readonly mode: number;
  readonly queued: number;
  readonly maxMessages: number;
  readonly queuedBytes: number;
  /** Requests it sent whose replies it still awaits. */
  readonly awaitingReplies: number;
  /** Requests it read and has not answered (UNREPLIEDTO). */
  readonly unrepliedTo: number;
  /** Messages it sent (status messages excluded). */
  readonly sent: number;
  /** Messages queued for it. */
  readonly received: number;
  /** Messages it missed, as a listener, because its queue was full. */
  readonly missed: number;
  readonly bindings: readonly { readonly name: string; readonly replier: boolean }[];
}

/** One device as a monitor sees it. */
export interface DeviceMetrics {
  readonly index: number;
  readonly sent: number;
  readonly delivered: number;
  readonly missed: number;
  readonly refused: ReadonlyMap<string, number>;
  readonly status: ReadonlyMap<string, number>;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  readonly requestsOutstanding: number;
  readonly ksocks: readonly KsockMetrics[];
}

/** The whole engine as a monitor sees it. */
export interface EngineMetrics {
  readonly devices: readonly DeviceMetrics[];
  /** Bytes held by every queue (the overall budget's measure). */
  readonly queuedBytes: number;
  readonly maxQueueBytes: number;
  readonly maxTotalQueueBytes: number;
}

/** Engine.metrics(): the counters, and what the current state says, of every device. */
export function collectMetrics(devices: readonly Device[], budget: QueueBudget): EngineMetrics {
  return {
    devices: devices.map((device) => deviceMetrics(device)),
    queuedBytes: budget.used,
    maxQueueBytes: budget.perQueue,
    maxTotalQueueBytes: budget.total,
  };
}

function deviceMetrics(device: Device): DeviceMetrics {
  const ksocks: KsockMetrics[] = [];
  let queuedMessages = 0;
  let queuedBytes = 0;
  let requestsOutstanding = 0;
  for (const ksock of device.ksocksNewestFirst().reverse()) {
    const stats = ksock.stats();
    queuedMessages += stats.queued;
    queuedBytes += ksock.queuedBytes;
    requestsOutstanding += stats.awaiting;
    ksocks.push({
      id: ksock.id,
      pid: ksock.pid,
      identity: ksock.identity,
      about: ksock.about,
      mode: ksock.mode,
      queued: stats.queued,
      maxMessages: stats.maxMessages,
      queuedBytes: ksock.queuedBytes,
      awaitingReplies: stats.awaiting,
      unrepliedTo: stats.owing,
      sent: ksock.sentCount,
      received: ksock.receivedCount,
      missed: ksock.missedCount,
      bindings: ksock.bindingList().map((b) => ({ name: b.name, replier: b.isReplier })),
    });
  }
  const c = device.counters;
  return {
    index: device.index,
    sent: c.sent,
    delivered: c.delivered,
    missed: c.missed,
    refused: new Map(c.refused),
    status: new Map(c.status),
    queuedMessages,
    queuedBytes,
    requestsOutstanding,
    ksocks,
  };
}
