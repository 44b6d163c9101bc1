/**
 * What the console is told of the cluster (GET /api/state on kbusd --http
 * in cluster mode): this bus, the other buses and whether each is live, and
 * who holds each replier name; and how the console labels a proxy replier.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type BusState, bindingLabel, type ClusterState } from '../../src/console/model.js';
import type { RunningDaemon } from '../support/daemon.js';
import { waitFor } from '../support/wait.js';
import { AGENT, type NatsServer, Stack } from './nats.js';

/** The HTTP address kbusd --http logged. */
function httpBase(daemon: RunningDaemon): string {
  const m = /metrics and console on (http:\/\/\S+?)\/(\s|$)/.exec(daemon.stderr());
  assert.ok(m, `kbusd said where it serves HTTP: ${daemon.stderr()}`);
  return m[1]!;
}

describe('the console in cluster mode', () => {
  const stack = new Stack();
  let nats: NatsServer;
  let a!: RunningDaemon;
  let b!: RunningDaemon;
  let base: string;

  before(async () => {
    nats = await stack.nats();
    a = await stack.kbusd([nats.url], 1, ['--http', '127.0.0.1:0']);
    b = await stack.kbusd([nats.url], 2);
    base = httpBase(a);
  });
  after(() => stack.stop());

  async function state(): Promise<BusState> {
    const res = await fetch(`${base}/api/state`);
    assert.equal(res.status, 200);
    return (await res.json()) as BusState;
  }

  test('/api/state names this bus, the live peer, and the bus holding a remote replier', async () => {
    const replier = await stack.ksock(b);
    await replier.bind('$.Console.Far', { replier: true });
    let seen: BusState | undefined;
    await waitFor(async () => {
      seen = await state();
      const agent = seen.devices[0]?.ksocks.find((k) => k.id === AGENT);
      return agent?.bindings.some((x) => x.replier && x.name === '$.Console.Far') ?? false;
    }, "bus 1's agent to proxy $.Console.Far");
    const cluster = seen!.cluster!;
    assert.equal(cluster.bus, 1);
    assert.deepEqual(
      cluster.peers.map((p) => ({ bus: p.bus, live: p.live })),
      [{ bus: 2, live: true }],
    );
    const far = cluster.repliers.find((r) => r.name === '$.Console.Far');
    assert.deepEqual(far, {
      device: 0,
      name: '$.Console.Far',
      bus: 2,
      ksock: replier.id,
      live: true,
    });
    // The console labels the agent's proxy with the bus and Ksock that reply.
    assert.equal(
      bindingLabel(cluster, 0, { name: '$.Console.Far', replier: true }),
      `R $.Console.Far (bus 2 Ksock ${replier.id})`,
    );
  });

  test('a stopped peer is shown gone', async () => {
    await b.stop();
    await waitFor(
      async () => (await state()).cluster?.peers.every((p) => p.bus !== 2 || !p.live) ?? false,
      'bus 2 to be shown gone (or no longer listed)',
    );
  });
});

describe('bindingLabel', () => {
  const cluster: ClusterState = {
    bus: 1,
    peers: [],
    repliers: [
      { device: 0, name: '$.Here', bus: 1, ksock: 4, live: true },
      { device: 0, name: '$.There', bus: 3, ksock: 9, live: true },
    ],
  };
  test('listeners and local repliers as they are; remote repliers with their bus', () => {
    assert.equal(bindingLabel(cluster, 0, { name: '$.L', replier: false }), '$.L');
    assert.equal(bindingLabel(cluster, 0, { name: '$.Here', replier: true }), 'R $.Here');
    assert.equal(
      bindingLabel(cluster, 0, { name: '$.There', replier: true }),
      'R $.There (bus 3 Ksock 9)',
    );
    assert.equal(bindingLabel(cluster, 1, { name: '$.There', replier: true }), 'R $.There');
    assert.equal(bindingLabel(undefined, 0, { name: '$.X', replier: true }), 'R $.X');
  });
});
