/**
 * What kbusd tells the console (GET /api/state): the engine's metrics as
 * JSON, with the listeners' figures and when it was taken, so that the page
 * can turn two snapshots into rates.
 */
import type { ClusterView } from '../cluster/index.js';
import type { EngineMetrics } from '../engine/index.js';
import type { ListenerStats } from './listener-stats.js';

export interface ConsoleState {
  /** Milliseconds since the Unix epoch. */
  readonly time: number;
  readonly queuedBytes: number;
  readonly maxQueueBytes: number;
  readonly maxTotalQueueBytes: number;
  readonly devices: readonly unknown[];
  readonly listeners: readonly unknown[];
  /** In cluster mode: this bus, the others and the replier registry. */
  readonly cluster?: ClusterView | undefined;
}

export function consoleState(
  engine: EngineMetrics,
  listeners: ListenerStats,
  cluster?: ClusterView,
): ConsoleState {
  return {
    cluster,
    time: Date.now(),
    queuedBytes: engine.queuedBytes,
    maxQueueBytes: engine.maxQueueBytes,
    maxTotalQueueBytes: engine.maxTotalQueueBytes,
    devices: engine.devices.map((d) => ({
      ...d,
      refused: Object.fromEntries(d.refused),
      status: Object.fromEntries(d.status),
    })),
    listeners: [...listeners.entries()].map(([name, f]) => ({
      name,
      accepted: f.accepted,
      open: f.open(),
      refused: Object.fromEntries(f.refused),
    })),
  };
}
