/**
 * Cluster mode when NATS itself goes away, and a replier's queue full on
 * another bus (docs/cluster.md sections 7 and 8), with real nats-server and
 * kbusd processes.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { connect } from 'nats';
import { type Ksock, type Reply, Status } from '../../src/client/index.js';
import { Buckets, replierKey } from '../../src/cluster/subjects.js';
import { waitReplier } from '../limpet/helpers.js';
import { waitFor, within } from '../support/wait.js';
import {
  AGENT,
  echo,
  Stack,
  CLUSTER_TIMEOUT_MS as TIMEOUT_MS,
  text,
  waitInterest,
} from './nats.js';

/** Retries a request until its replier answers (proxies come back a heartbeat or two after NATS). */
async function answered(k: Ksock, name: string, data: string): Promise<void> {
  await waitFor(async () => {
    try {
      const m = await k.request(name, data, { timeout: 2000 });
      return text(m) === `${data}!`;
    } catch {
      return false;
    }
  }, `a request to ${name} to be answered`);
}

describe('cluster mode: NATS lost, remote queues full', () => {
  const stack = new Stack();
  after(() => stack.stop());

  test('the requester daemon loses NATS: Disappeared in time, once; after NATS returns, registry and interest watches resume', async () => {
    let nats = await stack.nats();
    const a = await stack.kbusd([nats.url], 41);
    const b = await stack.kbusd([nats.url], 42);
    const r = await stack.ksock(b);
    await r.bind('$.out.slow', { replier: true }); // never answers
    const sa = await stack.ksock(a);
    await waitReplier(sa, '$.out.slow', (id) => id === AGENT);
    const answers: (Reply | Status)[] = [];
    const pending = sa.request('$.out.slow', 'x', { timeout: 60_000 }).then((m) => {
      answers.push(m);
    });
    await waitFor(async () => (await r.numMessages()) === 1, 'the request to reach bus 42');

    await nats.kill();
    const lostAt = Date.now();
    await within(pending, 'the request to be answered without NATS');
    const took = Date.now() - lostAt;
    assert.equal(answers.length, 1);
    assert.ok(answers[0] instanceof Status);
    assert.equal(answers[0]!.name, '$.KBUS.Replier.Disappeared');
    // docs/cluster.md: within --cluster-timeout of losing NATS (plus a check period, and slack).
    assert.ok(took < TIMEOUT_MS * 4, `answered after ${took} ms`);
    // Every other bus is gone for bus 41: its proxy is unbound, a request is refused.
    await waitReplier(sa, '$.out.slow', (id) => id === 0);
    await assert.rejects(sa.request('$.out.slow', 'y'), { code: 'EADDRNOTAVAIL' });

    nats = await stack.restart(nats);
    // The registry still names bus 42's replier: once both are back, bus 41 proxies it again.
    await waitReplier(sa, '$.out.slow', (id) => id === AGENT);
    // The key-value watches run again: a replier bound on 42 now, and a listener
    // bound on 41 now, reach the other bus.
    const r2 = await stack.ksock(b);
    await r2.bind('$.out.echo', { replier: true });
    echo(r2);
    await answered(sa, '$.out.echo', 'back');
    const listener = await stack.ksock(a);
    await listener.bind('$.out.news');
    const sb = await stack.ksock(b);
    await waitInterest(sb, '$.out.news');
    await sb.announce('$.out.news', 'hello');
    assert.equal(text(await within(listener.receive(), 'the announcement')), 'hello');
    // The request answered Disappeared is never answered again, even now that 42 is back.
    assert.equal(await sa.next(), undefined);
    assert.equal(answers.length, 1);
  });

  test("a replier's queue full on its bus: the requester gets $.KBUS.RemoteError.16", async () => {
    const nats = await stack.nats();
    const a = await stack.kbusd([nats.url], 51);
    const b = await stack.kbusd([nats.url], 52);
    const r = await stack.ksock(b);
    await r.maxMessages(1);
    await r.bind('$.out.full', { replier: true }); // reads nothing
    const sa = await stack.ksock(a);
    await waitReplier(sa, '$.out.full', (id) => id === AGENT);
    const first = sa.request('$.out.full', 'one', { timeout: 60_000 });
    await waitFor(async () => (await r.numMessages()) === 1, 'the first request to be queued');
    // Bus 51's SEND succeeds (its proxy has room); the full queue is found on bus 52.
    const second = await within(sa.request('$.out.full', 'two'), 'the second answer');
    assert.ok(second instanceof Status);
    assert.equal(second.name, '$.KBUS.RemoteError.16');
    // The first is still the replier's: it answers, and only that answer arrives.
    const m = await within(r.receive(), 'the first request');
    await r.replyTo(m, 'one!');
    assert.equal(text(await within(first, 'the first answer')), 'one!');
  });

  test('a registry entry lost while the bus was away from NATS is made again when NATS returns', async () => {
    let nats = await stack.nats();
    const a = await stack.kbusd([nats.url], 61);
    const b = await stack.kbusd([nats.url], 62);
    const r = await stack.ksock(b);
    await r.bind('$.out.kept', { replier: true });
    echo(r);
    const sa = await stack.ksock(a);
    await waitReplier(sa, '$.out.kept', (id) => id === AGENT);
    // The store loses bus 62's entry (as a NATS store that lost its data would):
    // bus 61 drops its proxy, while bus 62's replier is still bound there.
    const nc = await connect({ servers: nats.url });
    const kv = await nc.jetstream().views.kv(Buckets.REPLIERS, { bindOnly: true });
    await kv.delete(replierKey(0, '$.out.kept'));
    await nc.close();
    await waitReplier(sa, '$.out.kept', (id) => id === 0);
    nats = await stack.restart(nats);
    // Back on NATS, bus 62 checks its repliers against the registry and makes the entry again.
    await waitReplier(sa, '$.out.kept', (id) => id === AGENT);
    await answered(sa, '$.out.kept', 'again');
  });
});
