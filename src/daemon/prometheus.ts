/**
 * kbusd's metrics in the Prometheus text exposition format (version 0.0.4):
 * `# HELP` and `# TYPE` before each family, counters ending in `_total`,
 * units in the name (`_bytes`, `_seconds`). docs/metrics.md lists them.
 */
import type { EngineMetrics } from '../engine/index.js';
import { STATUS_MESSAGE_NAMES } from '../engine/index.js';
import type { ListenerStats } from './listener-stats.js';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** A label value as the format wants it: backslash, double quote and newline escaped. */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

type Labels = Readonly<Record<string, string | number>>;

class Exposition {
  private text = '';

  family(name: string, type: 'counter' | 'gauge', help: string): void {
    this.text += `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`;
  }

  sample(name: string, labels: Labels, value: number): void {
    const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(String(v))}"`);
    this.text += `${name}${pairs.length > 0 ? `{${pairs.join(',')}}` : ''} ${value}\n`;
  }

  /** One family with one sample per item. */
  each<T>(
    name: string,
    type: 'counter' | 'gauge',
    help: string,
    items: readonly T[],
    sample: (item: T) => [Labels, number][],
  ): void {
    this.family(name, type, help);
    for (const item of items)
      for (const [labels, value] of sample(item)) this.sample(name, labels, value);
  }

  toString(): string {
    return this.text;
  }
}

export interface ProcessFigures {
  readonly startTimeSeconds: number;
  readonly residentBytes: number;
  readonly cpuSeconds: number;
}

/** The whole exposition: the engine's figures, the listeners', and the process's. */
export function prometheusText(
  engine: EngineMetrics,
  listeners: ListenerStats,
  process: ProcessFigures,
): string {
  const out = new Exposition();
  const devices = engine.devices;
  const device = (d: { index: number }) => ({ device: d.index });

  out.family('kbus_devices', 'gauge', 'KBUS devices the daemon has.');
  out.sample('kbus_devices', {}, devices.length);
  out.each('kbus_ksocks', 'gauge', 'Ksocks open, per device.', devices, (d) => [
    [device(d), d.ksocks.length],
  ]);
  out.each(
    'kbus_limpet_links',
    'gauge',
    'Limpet links up, per device: Ksocks that describe themselves as Limpets.',
    devices,
    (d) => [[device(d), d.ksocks.filter((k) => k.about?.kind === 'limpet').length]],
  );
  out.each(
    'kbus_messages_sent_total',
    'counter',
    'Messages sent and accepted for delivery, per device (status messages excluded).',
    devices,
    (d) => [[device(d), d.sent]],
  );
  out.each(
    'kbus_messages_delivered_total',
    'counter',
    "Copies of messages queued for a recipient, per device (one per recipient's queue).",
    devices,
    (d) => [[device(d), d.delivered]],
  );
  out.each(
    'kbus_messages_missed_total',
    'counter',
    'Copies a listener missed because its queue was full, per device.',
    devices,
    (d) => [[device(d), d.missed]],
  );
  out.each(
    'kbus_sends_refused_total',
    'counter',
    'Sends refused, per device and errno (EBUSY, EAGAIN, EADDRNOTAVAIL, ENOLCK...).',
    devices,
    (d) => [...d.refused].map(([errno, n]) => [{ ...device(d), errno }, n]),
  );
  out.each(
    'kbus_status_messages_total',
    'counter',
    'Messages KBUS generated itself, per device and message name.',
    devices,
    (d) => {
      const names = new Set([...STATUS_MESSAGE_NAMES, ...d.status.keys()]);
      return [...names].map((name) => [{ ...device(d), name }, d.status.get(name) ?? 0]);
    },
  );
  out.each(
    'kbus_requests_outstanding',
    'gauge',
    'Requests sent whose reply has not yet arrived, per device.',
    devices,
    (d) => [[device(d), d.requestsOutstanding]],
  );
  out.each(
    'kbus_queued_messages',
    'gauge',
    'Messages waiting in queues, per device.',
    devices,
    (d) => [[device(d), d.queuedMessages]],
  );
  out.each(
    'kbus_queued_bytes',
    'gauge',
    'Bytes of messages waiting in queues, per device (each copy counted at its entire length).',
    devices,
    (d) => [[device(d), d.queuedBytes]],
  );
  out.family(
    'kbus_queue_budget_bytes',
    'gauge',
    'The byte budgets: one queue\'s (scope="ksock") and all queues\' together (scope="total").',
  );
  out.sample('kbus_queue_budget_bytes', { scope: 'ksock' }, engine.maxQueueBytes);
  out.sample('kbus_queue_budget_bytes', { scope: 'total' }, engine.maxTotalQueueBytes);

  const byListener = [...listeners.entries()];
  out.each(
    'kbus_connections_accepted_total',
    'counter',
    'Connections accepted, per listener.',
    byListener,
    ([listener, f]) => [[{ listener }, f.accepted]],
  );
  out.each(
    'kbus_connections_open',
    'gauge',
    'Connections open, per listener.',
    byListener,
    ([listener, f]) => [[{ listener }, f.open()]],
  );
  out.each(
    'kbus_connections_refused_total',
    'counter',
    'Connections refused or closed by kbusd, per listener and reason.',
    byListener,
    ([listener, f]) => [...f.refused].map(([reason, n]) => [{ listener, reason }, n]),
  );

  out.family(
    'process_start_time_seconds',
    'gauge',
    'Start time of the process since the Unix epoch, in seconds.',
  );
  out.sample('process_start_time_seconds', {}, process.startTimeSeconds);
  out.family('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.');
  out.sample('process_resident_memory_bytes', {}, process.residentBytes);
  out.family('process_cpu_seconds_total', 'counter', 'User and system CPU time spent, in seconds.');
  out.sample('process_cpu_seconds_total', {}, process.cpuSeconds);
  return out.toString();
}
