/**
 * Three kbusd processes joined through one real nats-server
 * (docs/cluster.md): the two- and three-bus scenarios of the Limpet tests,
 * run across the cluster, plus what only the cluster promises (one replier
 * per name decided by compare-and-set, interest routing).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import { Reply, Status } from '../../src/client/index.js';
import { bindEventOf, KBUS, next, receiveUntil, waitReplier } from '../limpet/helpers.js';
import { KBUSD, type RunningDaemon } from '../support/daemon.js';
import { waitFor, within } from '../support/wait.js';
import { AGENT, echo, type NatsServer, Stack, text, waitInterest } from './nats.js';

describe('cluster mode: three buses on one NATS server', () => {
  const stack = new Stack();
  let nats: NatsServer;
  let nc: NatsConnection;
  let a!: RunningDaemon;
  let b!: RunningDaemon;
  let c!: RunningDaemon;

  before(async () => {
    nats = await stack.nats();
    [a, b, c] = (await Promise.all([1, 2, 3].map((id) => stack.kbusd([nats.url], id)))) as [
      RunningDaemon,
      RunningDaemon,
      RunningDaemon,
    ];
    nc = await connect({ servers: nats.url });
    stack.add(() => nc.close());
  });
  after(() => stack.stop());

  /** Bus `bus`'s traffic counters, from its next heartbeat. */
  async function traffic(bus: number): Promise<{ sent: number }> {
    const sub = nc.subscribe(`kbus.hb.${bus}`, { max: 1 });
    for await (const m of sub) return m.json<{ traffic: { sent: number } }>().traffic;
    throw new Error('no heartbeat');
  }

  test('a second daemon with a live bus id is refused with EADDRINUSE', async () => {
    const child = spawn(
      process.execPath,
      [KBUSD, '--socket', `${a.socket}.dup`, '--cluster', nats.url, '--bus-id', '2'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (t) => {
      stderr += t;
    });
    const code = await within(
      new Promise<number | null>((resolve) => child.once('exit', resolve)),
      'the duplicate daemon to exit',
    );
    assert.equal(code, 98, stderr);
    assert.match(stderr, /bus id 2 is already live/);
  });

  test('announcements reach exact, % and * listeners on every other bus, and only them', async () => {
    const sa = await stack.ksock(a);
    const lb = await stack.ksock(b);
    const lc = await stack.ksock(c);
    await lb.bind('$.ann.one');
    await lc.bind('$.ann.%');
    await lc.bind('$.ann.deep.*');
    await waitInterest(sa, '$.ann.one');
    await waitInterest(sa, '$.ann.%');
    await waitInterest(sa, '$.ann.deep.*');
    const id = await sa.announce('$.ann.one', 'x');
    const gotB = await next(lb, 'the announcement on B');
    assert.equal(gotB.name, '$.ann.one');
    assert.deepEqual(
      gotB.id,
      { networkId: 1, serialNum: id.serialNum },
      'keeps its id, with bus 1',
    );
    assert.deepEqual(gotB.origFrom, { networkId: 1, localId: sa.id });
    assert.equal(gotB.from, AGENT);
    assert.equal((await next(lc, 'the % copy on C')).name, '$.ann.one');
    await sa.announce('$.ann.deep.x.y', 'y');
    assert.equal((await next(lc, 'the * copy on C')).name, '$.ann.deep.x.y');
    // And back the other way, C to B.
    const lbw = await stack.ksock(b);
    await lbw.bind('$.back.*');
    await waitInterest(lc, '$.back.*');
    await lc.announce('$.back.there', 'z');
    const back = await next(lbw, 'C to B');
    assert.deepEqual(back.origFrom, { networkId: 3, localId: lc.id });
  });

  test('an announcement that no other bus wants sends nothing to NATS', async () => {
    const sa = await stack.ksock(a);
    const before = await traffic(1);
    for (let i = 0; i < 50; i++) await sa.announce('$.nobody.wants', 'x');
    const first = await traffic(1);
    const later = await traffic(1);
    assert.equal(first.sent, before.sent);
    assert.equal(later.sent, before.sent);
  });

  test('a request reaches its replier on another bus, and the reply comes back', async () => {
    const r = await stack.ksock(b);
    await r.bind('$.echo', { replier: true });
    echo(r);
    const sa = await stack.ksock(a);
    await waitReplier(sa, '$.echo', (id) => id === AGENT);
    const reply = await sa.request('$.echo', 'ping', { timeout: 10_000 });
    assert.ok(reply instanceof Reply);
    assert.equal(text(reply), 'ping!');
    assert.deepEqual(reply.origFrom, { networkId: 2, localId: r.id });
    // Stateful: to the agent, final_to the replier that answered.
    const again = await sa.request('$.echo', 'two', {
      to: reply.from,
      finalTo: reply.origFrom,
      timeout: 10_000,
    });
    assert.equal(text(again), 'two!');
    // The replier restarts as another Ksock: the stateful request is refused.
    await r.close();
    const r2 = await stack.ksock(b);
    await waitReplier(sa, '$.echo', (id) => id === 0);
    await r2.bind('$.echo', { replier: true });
    echo(r2);
    await waitReplier(sa, '$.echo', (id) => id === AGENT);
    const refused = await sa.request('$.echo', 'three', {
      to: reply.from,
      finalTo: reply.origFrom,
      timeout: 10_000,
    });
    assert.ok(refused instanceof Status);
    assert.equal(refused.name, '$.KBUS.Replier.NotSameKsock');
  });

  test('listeners on a third bus hear the request and the reply once each', async () => {
    const r = await stack.ksock(b);
    await r.bind('$.watched', { replier: true });
    echo(r);
    const watcher = await stack.ksock(c);
    await watcher.bind('$.watched');
    const sa = await stack.ksock(a);
    await waitInterest(sa, '$.watched');
    await waitInterest(r, '$.watched');
    await waitReplier(sa, '$.watched', (id) => id === AGENT);
    const reply = await sa.request('$.watched', 'hi', { timeout: 10_000 });
    assert.equal(text(reply), 'hi!');
    const first = await next(watcher, 'the request copy');
    const second = await next(watcher, 'the reply copy');
    assert.equal(first.wantsYouToReply, false, 'a listener copy is not to be answered');
    assert.equal(text(first), 'hi');
    assert.equal(text(second), 'hi!');
    // Nothing more: send a marker and see it next.
    await sa.announce('$.watched', 'marker');
    assert.equal(text(await next(watcher, 'the marker')), 'marker');
  });

  test('the most specific replier wins across buses', async () => {
    const wide = await stack.ksock(a);
    await wide.bind('$.spec.%', { replier: true });
    echo(wide);
    const exact = await stack.ksock(b);
    await exact.bind('$.spec.x', { replier: true });
    echo(exact);
    const sc = await stack.ksock(c);
    await waitReplier(sc, '$.spec.x', (id) => id === AGENT);
    await waitReplier(sc, '$.spec.%', (id) => id === AGENT);
    await waitReplier(wide, '$.spec.x', (id) => id === AGENT);
    const x = await sc.request('$.spec.x', 'x', { timeout: 10_000 });
    assert.deepEqual(x.origFrom, { networkId: 2, localId: exact.id });
    const y = await sc.request('$.spec.y', 'y', { timeout: 10_000 });
    assert.deepEqual(y.origFrom, { networkId: 1, localId: wide.id });
    // On bus 1 itself, the exact replier on bus 2 still beats the local wildcard.
    const local = await stack.ksock(a);
    const z = await local.request('$.spec.x', 'z', { timeout: 10_000 });
    assert.deepEqual(z.origFrom, { networkId: 2, localId: exact.id });
  });

  test('bind events on every bus report repliers on the others', async () => {
    const watcher = await stack.ksock(a);
    await watcher.bind('$.KBUS.ReplierBindEvent');
    await watcher.reportReplierBinds(true);
    const r = await stack.ksock(c);
    await r.bind('$.evented', { replier: true });
    await receiveUntil(
      watcher,
      (m) => {
        const e = bindEventOf(m);
        return e?.name === '$.evented' && e.isBind && e.binder === AGENT;
      },
      'the proxy bind event on A',
    );
    await r.unbind('$.evented', { replier: true });
    await receiveUntil(
      watcher,
      (m) => {
        const e = bindEventOf(m);
        return e?.name === '$.evented' && !e.isBind && e.binder === AGENT;
      },
      'the proxy unbind event on A',
    );
  });

  test('concurrent replier binds from three buses: exactly one wins', async () => {
    for (let round = 0; round < 5; round++) {
      const name = `$.race.r${round}`;
      const ks = await Promise.all([a, b, c].map((d) => stack.ksock(d)));
      const results = await Promise.allSettled(ks.map((k) => k.bind(name, { replier: true })));
      const won = results.filter((r) => r.status === 'fulfilled');
      assert.equal(won.length, 1, `round ${round}: ${JSON.stringify(results)}`);
      for (const r of results) {
        if (r.status === 'rejected')
          assert.equal((r.reason as { code: string }).code, 'EADDRINUSE');
      }
      // Once the winner unbinds, another bus may take the name.
      const winner = ks[results.findIndex((r) => r.status === 'fulfilled')]!;
      const other = ks.find((k) => k !== winner)!;
      await winner.unbind(name, { replier: true });
      await waitFor(async () => {
        try {
          await other.bind(name, { replier: true });
          return true;
        } catch {
          return false;
        }
      }, `another bus to bind ${name} once it is free`);
    }
  });

  test('kbus cluster shows the live buses, the replier registry and the traffic', async () => {
    const r = await stack.ksock(c);
    await r.bind('$.shown.%', { replier: true });
    const child = spawn(process.execPath, [KBUS, '--json', 'cluster', '--cluster', nats.url], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (t) => {
      stdout += t;
    });
    const code = await within(
      new Promise<number | null>((resolve) => child.once('exit', resolve)),
      'kbus cluster to finish',
    );
    assert.equal(code, 0);
    const status = JSON.parse(stdout) as {
      buses: { bus: number; live: boolean; traffic: { sent: number } }[];
      repliers: { device: number; name: string; bus: number; ksock: number }[];
    };
    assert.deepEqual(
      status.buses.map((x) => [x.bus, x.live]),
      [
        [1, true],
        [2, true],
        [3, true],
      ],
    );
    assert.ok(status.buses[0]!.traffic.sent > 0);
    assert.deepEqual(
      status.repliers.find((x) => x.name === '$.shown.%'),
      { device: 0, name: '$.shown.%', bus: 3, ksock: r.id },
    );
  });
});
