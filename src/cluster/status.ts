/**
 * What `kbus cluster` shows (docs/cluster.md section 9): the buses
 * registered, whether each is live (a heartbeat heard while we listened),
 * the replier registry and each bus's traffic counters.
 */
import { connect } from 'nats';
import type { Traffic } from './agent.js';
import { Buckets, heartbeatSubject, parseReplierKey } from './subjects.js';

export interface BusStatus {
  bus: number;
  host: string;
  pid: number;
  live: boolean;
  traffic?: Traffic;
  pending?: number;
}

export interface ReplierStatus {
  device: number;
  name: string;
  bus: number;
  ksock: number;
}

export interface ClusterStatus {
  buses: BusStatus[];
  repliers: ReplierStatus[];
}

/** Reads the cluster's state, listening `listenMs` for heartbeats. */
export async function clusterStatus(servers: string[], listenMs: number): Promise<ClusterStatus> {
  const nc = await connect({ servers, name: 'kbus cluster' });
  try {
    const heard = new Map<number, { traffic: Traffic; pending: number }>();
    const sub = nc.subscribe(heartbeatSubject('*'), {
      callback: (_err, msg) => {
        try {
          const beat = msg.json<{
            bus: number;
            leaving: boolean;
            traffic: Traffic;
            pending: number;
          }>();
          if (!beat.leaving) heard.set(beat.bus, { traffic: beat.traffic, pending: beat.pending });
        } catch {
          // Not a heartbeat.
        }
      },
    });
    const js = nc.jetstream();
    const buses: BusStatus[] = [];
    const repliers: ReplierStatus[] = [];
    const busesKv = await js.views.kv(Buckets.BUSES, { bindOnly: true }).catch(() => undefined);
    const repliersKv = await js.views
      .kv(Buckets.REPLIERS, { bindOnly: true })
      .catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, listenMs));
    sub.unsubscribe();
    if (busesKv) {
      const keys: string[] = [];
      for await (const key of await busesKv.keys()) keys.push(key);
      for (const key of keys) {
        const entry = await busesKv.get(key);
        if (entry?.operation !== 'PUT') continue;
        const record = entry.json<{ bus: number; host: string; pid: number }>();
        const beat = heard.get(record.bus);
        buses.push({ ...record, live: beat !== undefined, ...beat });
      }
    }
    if (repliersKv) {
      const keys: string[] = [];
      for await (const key of await repliersKv.keys()) keys.push(key);
      for (const key of keys) {
        const parsed = parseReplierKey(key);
        const entry = await repliersKv.get(key);
        if (!parsed || entry?.operation !== 'PUT') continue;
        const owner = entry.json<{ bus: number; ksock: number }>();
        repliers.push({ ...parsed, bus: owner.bus, ksock: owner.ksock });
      }
    }
    buses.sort((x, y) => x.bus - y.bus);
    repliers.sort((x, y) => x.device - y.device || x.name.localeCompare(y.name));
    return { buses, repliers };
  } finally {
    await nc.close();
  }
}
