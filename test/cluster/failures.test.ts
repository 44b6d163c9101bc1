/**
 * Cluster mode when things fail (docs/cluster.md section 7), with real
 * nats-server and kbusd processes: a replier's daemon killed with a
 * thousand requests outstanding, a daemon stopped and continued, a daemon
 * restarted with its bus id, one NATS server of three killed.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { type Ksock, type Reply, Status } from '../../src/client/index.js';
import { waitReplier } from '../limpet/helpers.js';
import type { RunningDaemon } from '../support/daemon.js';
import { waitFor, within } from '../support/wait.js';
import { AGENT, echo, Stack, CLUSTER_TIMEOUT_MS as TIMEOUT_MS, text } from './nats.js';

/** Counts every answer per request; resolves once each of `count` has one. */
async function requestMany(k: Ksock, name: string, count: number): Promise<(Reply | Status)[][]> {
  const answers: (Reply | Status)[][] = Array.from({ length: count }, () => []);
  await k.maxMessages(count + 10);
  const all = Array.from({ length: count }, (_, i) =>
    k.request(name, String(i), { timeout: 60_000 }).then((m) => {
      answers[i]!.push(m);
    }),
  );
  await Promise.all(all);
  return answers;
}

describe('cluster mode: failures', () => {
  const stack = new Stack();
  after(() => stack.stop());

  test('SIGKILL of the replier daemon: each of 1000 outstanding requests gets one Disappeared in time', async () => {
    const nats = await stack.nats();
    const a = await stack.kbusd([nats.url], 1);
    const b = await stack.kbusd([nats.url], 2);
    const r = await stack.ksock(b);
    await r.maxMessages(2000);
    await r.bind('$.slow', { replier: true }); // never answers
    const sa = await stack.ksock(a);
    await waitReplier(sa, '$.slow', (id) => id === AGENT);
    const outstanding = requestMany(sa, '$.slow', 1000);
    await waitFor(async () => (await r.numMessages()) === 1000, 'the 1000 requests to reach B');
    const killedAt = Date.now();
    b.process.kill('SIGKILL');
    const answers = await within(outstanding, 'every request to be answered');
    const took = Date.now() - killedAt;
    for (const [i, got] of answers.entries()) {
      assert.equal(got.length, 1, `request ${i}`);
      assert.ok(got[0] instanceof Status);
      assert.equal(got[0]!.name, '$.KBUS.Replier.Disappeared');
    }
    // docs/cluster.md: within the timeout plus one heartbeat period (with slack for a loaded machine).
    assert.ok(took < TIMEOUT_MS * 4, `answered after ${took} ms`);
    // The proxy has gone with its bus: a new request is refused at once.
    await waitReplier(sa, '$.slow', (id) => id === 0);
    await assert.rejects(sa.request('$.slow', 'late'), { code: 'EADDRNOTAVAIL' });

    // Restarted with the same bus id, it rejoins; its replier is reachable again.
    const b2 = await within(stack.kbusd([nats.url], 2), 'bus 2 to restart');
    const r2 = await stack.ksock(b2);
    await r2.bind('$.slow', { replier: true });
    echo(r2);
    await waitReplier(sa, '$.slow', (id) => id === AGENT);
    assert.equal(text(await sa.request('$.slow', 'back', { timeout: 10_000 })), 'back!');
  });

  test('SIGSTOP and SIGCONT: requests get Disappeared, a name taken meanwhile is lost', async () => {
    const nats = await stack.nats();
    const a = await stack.kbusd([nats.url], 11);
    const b: RunningDaemon = await stack.kbusd([nats.url], 12);
    const r = await stack.ksock(b);
    await r.bind('$.held', { replier: true });
    const sa = await stack.ksock(a);
    await waitReplier(sa, '$.held', (id) => id === AGENT);
    b.process.kill('SIGSTOP');
    stack.add(() => b.process.kill('SIGCONT'));
    const answer = await within(sa.request('$.held', 'x', { timeout: 30_000 }), 'the answer');
    assert.ok(answer instanceof Status);
    assert.equal(answer.name, '$.KBUS.Replier.Disappeared');
    // Bus 12 is gone for bus 11: the name may be taken there.
    await waitReplier(sa, '$.held', (id) => id === 0);
    const taker = await stack.ksock(a);
    await taker.bind('$.held', { replier: true });
    echo(taker);
    b.process.kill('SIGCONT');
    // Bus 12 returns: its replier has lost the name, and requests there reach bus 11's.
    await waitReplier(r, '$.held', (id) => id === AGENT);
    const sb = await stack.ksock(b);
    assert.equal(text(await sb.request('$.held', 'y', { timeout: 10_000 })), 'y!');
  });

  test('one NATS server of three killed: traffic continues', async () => {
    const servers = await stack.natsCluster();
    const urls = servers.map((s) => s.url);
    const extra = ['--cluster-replicas', '3'];
    const a = await stack.kbusd([urls[0]!, urls[1]!], 21, extra);
    const b = await stack.kbusd([urls[1]!, urls[2]!], 22, extra);
    const r = await stack.ksock(b);
    await r.bind('$.ha', { replier: true });
    echo(r);
    const sa = await stack.ksock(a);
    await waitReplier(sa, '$.ha', (id) => id === AGENT);
    assert.equal(text(await sa.request('$.ha', 'one', { timeout: 10_000 })), 'one!');
    await servers[1]!.kill();
    // Both daemons reconnect to a server left (one each at least); requests flow again.
    await waitFor(async () => {
      try {
        const m = await sa.request('$.ha', 'two', { timeout: 1000 });
        return text(m) === 'two!';
      } catch {
        return false;
      }
    }, 'a request to succeed after the server died');
  });
});
