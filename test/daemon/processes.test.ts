/**
 * Several Node processes on one kbusd (fixtures/*.ts): announcements from
 * a sender process reach listener processes; a replier process answers the
 * test's requests; a replier process killed after reading a request makes
 * KBUS send $.KBUS.Replier.Ignored, and one killed before reading it
 * $.KBUS.Replier.GoneAway (Kbus.txt "The reply guarantee").
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import { Flags, MessageNames } from '../../src/wire/index.js';
import { type RunningDaemon, startDaemon } from '../support/daemon.js';
import { type LineChild, runFixture, waitFor, within } from './helpers.js';

interface Line {
  event: string;
  id?: number | [number, number];
  kind?: string;
  name?: string;
  data?: string;
  from?: number;
  serials?: number[];
  wantsYouToReply?: boolean;
}

function parsed(child: LineChild): Line[] {
  return child.lines.map((line) => JSON.parse(line) as Line);
}

async function ready(child: LineChild): Promise<number> {
  const line = await child.line((l) => l.includes('"ready"'), 'ready');
  return (JSON.parse(line) as Line).id as number;
}

describe('kbusd with several processes', () => {
  let daemon: RunningDaemon;
  let requester: Ksock;
  const children: LineChild[] = [];

  before(async () => {
    daemon = await startDaemon([], 30_000);
    requester = await Ksock.connect({ socket: daemon.socket });
  });

  after(async () => {
    for (const child of children) await child.kill('SIGKILL');
    await requester?.close();
    const code = await daemon?.stop();
    assert.equal(code, 0, `kbusd should stop cleanly; stderr: ${daemon.stderr()}`);
  });

  function fixture(name: string, args: string[]): LineChild {
    const child = runFixture(name, [daemon.socket, ...args]);
    children.push(child);
    return child;
  }

  test('announcements from a sender process reach two listener processes, in order', async () => {
    const count = 50;
    const listeners = [
      fixture('listener', ['$.multi.news', String(count)]),
      fixture('listener', ['$.multi.news', String(count)]),
    ];
    for (const listener of listeners) await ready(listener);
    const sender = fixture('sender', ['$.multi.news', String(count)]);
    const senderId = await ready(sender);
    const sent = await within(sender.exited, 'the sender to exit', 30_000);
    assert.equal(sent.code, 0, `sender: ${sender.stderr()}`);
    const serials = parsed(sender).find((l) => l.event === 'sent')?.serials;
    assert.equal(serials?.length, count);
    for (const listener of listeners) {
      const { code } = await within(listener.exited, 'a listener to exit', 30_000);
      assert.equal(code, 0, `listener: ${listener.stderr()}`);
      const messages = parsed(listener).filter((l) => l.event === 'message');
      assert.equal(messages.length, count);
      messages.forEach((m, i) => {
        assert.equal(m.kind, 'announcement');
        assert.equal(m.name, '$.multi.news');
        assert.equal(m.data, `message ${i}`);
        assert.equal(m.from, senderId);
        assert.deepEqual(m.id, [0, serials![i]]);
      });
      assert.equal(parsed(listener).at(-1)?.event, 'done');
    }
  });

  test('a replier process answers requests from this process', async () => {
    const replier = fixture('replier', ['$.multi.service', 'reply']);
    const replierId = await ready(replier);
    assert.equal(await requester.replier('$.multi.service'), replierId);
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        requester.request('$.multi.service', `q${i}`, { timeout: 20_000 }),
      ),
    );
    replies.forEach((reply, i) => {
      assert.equal(reply.kind, 'reply', `reply ${i} is ${reply.name}`);
      assert.equal(reply.name, '$.multi.service');
      assert.equal(reply.text(), `reply to q${i}`);
      assert.equal(reply.from, replierId);
      assert.equal(reply.to, requester.id);
    });
    assert.equal(new Set(replies.map((r) => r.inReplyTo.serialNum)).size, 10);
    await waitFor(
      () => parsed(replier).filter((l) => l.event === 'replied').length === 10,
      'the replier to log 10 replies',
    );
    // A clean exit: stdin ends, the replier closes, its binding goes.
    replier.process.stdin!.end();
    const { code } = await within(replier.exited, 'the replier to exit', 30_000);
    assert.equal(code, 0, replier.stderr());
    await waitFor(
      async () => (await requester.replier('$.multi.service')) === 0,
      'the replier binding to go',
    );
  });

  test('a replier killed after reading a request: the requester gets $.KBUS.Replier.Ignored', async () => {
    const replier = fixture('replier', ['$.multi.ignored', 'read-then-hang']);
    const replierId = await ready(replier);
    const pending = requester.request('$.multi.ignored', 'will you answer?', { timeout: 20_000 });
    const line = await replier.line((l) => l.includes('"received"'), 'the request to be read');
    const received = JSON.parse(line) as Line;
    assert.equal(received.kind, 'request');
    assert.equal(received.data, 'will you answer?');
    assert.equal(received.wantsYouToReply, true);
    await replier.kill('SIGKILL');
    const status = await pending;
    assert.equal(status.kind, 'status');
    assert.equal(status.name, MessageNames.REPLIER_IGNORED);
    assert.ok(status.flags & Flags.SYNTHETIC, 'a status message is SYNTHETIC');
    assert.deepEqual([status.inReplyTo.networkId, status.inReplyTo.serialNum], received.id);
    assert.equal(status.from, replierId, 'from: the replier that went away (kbus.c)');
    assert.equal(status.to, requester.id);
    assert.equal(await requester.replier('$.multi.ignored'), 0);
  });

  test('a replier killed before reading a request: the requester gets $.KBUS.Replier.GoneAway', async () => {
    const replier = fixture('replier', ['$.multi.gone', 'hang']);
    const replierId = await ready(replier);
    const pending = requester.request('$.multi.gone', 'anyone?', { timeout: 20_000 });
    // Requests on one connection are handled in order: once LASTSENT is
    // answered, the request is in the replier's queue.
    const sent = await requester.lastSent();
    assert.ok(sent.serialNum > 0);
    await replier.kill('SIGKILL');
    const status = await pending;
    assert.equal(status.kind, 'status');
    assert.equal(status.name, MessageNames.REPLIER_GONEAWAY);
    assert.ok(status.flags & Flags.SYNTHETIC, 'a status message is SYNTHETIC');
    assert.deepEqual(status.inReplyTo, sent);
    assert.equal(status.from, replierId, 'from: the replier that went away (kbus.c)');
    assert.equal(status.to, requester.id);
    assert.equal(await requester.unrepliedTo(), 0);
    assert.equal(await requester.replier('$.multi.gone'), 0);
  });

  test('after all that, the daemon still serves new processes', async () => {
    const listener = fixture('listener', ['$.multi.last', '1']);
    await ready(listener);
    await requester.announce('$.multi.last', 'bye');
    const { code } = await within(listener.exited, 'the listener to exit', 30_000);
    assert.equal(code, 0, listener.stderr());
    const [message] = parsed(listener).filter((l) => l.event === 'message');
    assert.equal(message?.data, 'bye');
    assert.equal(message?.from, requester.id);
  });
});
