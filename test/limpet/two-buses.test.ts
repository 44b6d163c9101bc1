/**
 * Two buses joined by a Limpet pair, with real processes: two kbusd, a
 * `kbus limpet -server` on bus B and a `kbus limpet -client` on bus A
 * (limpet.md sections 3, 5, 7). Announcements, far listeners, requests,
 * stateful requests, NotSameKsock / GoneAway / RemoteError, proxy repliers
 * and the absence of echoes, as clients see them. Once over TCP with the
 * original switch spellings, once over a Unix socket with the long ones.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { type KbusMessage, type Ksock, Reply, Status } from '../../src/client/index.js';
import type { RunningDaemon } from '../support/daemon.js';
import {
  bindEventOf,
  Cleanup,
  daemon,
  ksock,
  linked,
  next,
  type Pair,
  receiveUntil,
  startPair,
  waitFor,
  waitReplier,
  within,
} from './helpers.js';

const WANT_A_REPLY = 0x1;
const WYTR = 0x2;
const SYNTHETIC = 0x4;
const enc = (text: string) => new TextEncoder().encode(text);
const text = (m: KbusMessage) => Buffer.from(m.data).toString();

/** The process state letter from /proc (T when stopped). */
function processState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

/** Waits for the bind event for `name` with the given binder and direction. */
async function waitBindEvent(watcher: Ksock, name: string, binder: number, isBind: boolean) {
  await receiveUntil(
    watcher,
    (m) => {
      const e = bindEventOf(m);
      return e !== undefined && e.name === name && e.binder === binder && e.isBind === isBind;
    },
    `a bind event (${isBind ? 'bind' : 'unbind'} ${name} by ${binder})`,
  );
}

interface Setup {
  cleanup: Cleanup;
  a: RunningDaemon;
  b: RunningDaemon;
  pair: Pair;
  /** Ksock ids of the Limpets: LA on A (id 1), LB on B (id 2). */
  la: number;
  lb: number;
}

for (const variant of [
  { kind: 'tcp' as const, original: true, title: 'TCP link, -server -id 2 -kbus 0' },
  { kind: 'unix' as const, original: false, title: 'Unix link, --server --id 2 --kbus 0' },
]) {
  describe(`two buses: ${variant.title}`, () => {
    const s = {} as Setup;
    /** Bound before the Limpets start (section 3, step 4). */
    let early: Ksock;

    before(async () => {
      s.cleanup = new Cleanup();
      s.a = await daemon(s.cleanup);
      s.b = await daemon(s.cleanup);
      early = await ksock(s.b, s.cleanup);
      await early.bind('$.Early.Svc', { replier: true });
      s.pair = await startPair(
        s.b,
        s.a,
        {
          kind: variant.kind,
          serverId: 2,
          clientId: 1,
          original: variant.original,
          // Find the daemon through --socket, -S and KBUS_SOCKET.
          serverVia: variant.original ? '--socket' : 'env',
          clientVia: variant.original ? '-S' : '--socket',
          clientArgs: variant.original ? ['-m', '$.*', '-v', '1'] : ['--message', '$.*'],
        },
        s.cleanup,
      );
      const ids = await linked(s.a, s.b, s.cleanup);
      s.la = ids.nearLimpet;
      s.lb = ids.farLimpet;
    });

    after(async () => {
      await s.cleanup.run();
    });

    test('a replier bound before the link came up is proxied (section 3)', async () => {
      const onA = await ksock(s.a, s.cleanup);
      assert.equal(await waitReplier(onA, '$.Early.Svc'), s.la);
      const reply = onA.request('$.Early.Svc', 'hi');
      const request = await next(early, 'the request on B');
      assert.equal(request.kind, 'request');
      await early.replyTo(request, 'early');
      const answer = await within(reply, 'the reply');
      assert.ok(answer instanceof Reply, `got ${answer.name}`);
      assert.equal(text(answer), 'early');
    });

    test("REPLIER on the near bus reports the Limpet's Ksock; bindings show it", async () => {
      const watcher = await ksock(s.a, s.cleanup);
      await watcher.bind('$.KBUS.ReplierBindEvent');
      const r = await ksock(s.b, s.cleanup);
      await r.bind('$.Proxy.Me', { replier: true });
      await waitBindEvent(watcher, '$.Proxy.Me', s.la, true);
      assert.equal(await watcher.replier('$.Proxy.Me'), s.la);
      assert.notEqual(s.la, r.id);
      // The Limpet's own Ksock, in its own process: a listener for $.* and the proxy.
      const pid = s.pair.client.child.pid!;
      const lines = (await watcher.bindings()).split('\n');
      const mine = (flag: string, name: string) =>
        lines.some((l) => {
          const f = l.trim().split(/\s+/);
          return f[1] === String(s.la) && f[2] === String(pid) && f[3] === flag && f[4] === name;
        });
      assert.ok(mine('L', '$.*'), lines.join('\n'));
      assert.ok(mine('L', '$.KBUS.ReplierBindEvent'), lines.join('\n'));
      assert.ok(mine('R', '$.Proxy.Me'), lines.join('\n'));
      // Unbinding on B unbinds the proxy on A.
      await r.unbind('$.Proxy.Me', { replier: true });
      await waitBindEvent(watcher, '$.Proxy.Me', s.la, false);
      assert.equal(await watcher.replier('$.Proxy.Me'), 0);
    });

    test('announcements cross both ways, to wildcard listeners, stamped', async () => {
      const senderA = await ksock(s.a, s.cleanup);
      const senderB = await ksock(s.b, s.cleanup);
      const star = await ksock(s.b, s.cleanup);
      const percent = await ksock(s.b, s.cleanup);
      const exact = await ksock(s.b, s.cleanup);
      const onA = await ksock(s.a, s.cleanup);
      await star.bind('$.Cross.*');
      await percent.bind('$.Cross.%');
      await exact.bind('$.Cross.Deep.Name');
      await onA.bind('$.Back.*');

      const one = await senderA.announce('$.Cross.One', 'one');
      const deep = await senderA.announce('$.Cross.Deep.Name', enc('deep'));
      assert.equal(one.networkId, 0);

      const check = (m: KbusMessage, name: string, serial: number, data: string) => {
        assert.equal(m.name, name);
        assert.equal(m.kind, 'announcement');
        assert.deepEqual(m.id, { networkId: 1, serialNum: serial });
        assert.equal(m.from, s.lb);
        assert.equal(m.to, 0);
        assert.deepEqual(m.origFrom, { networkId: 1, localId: senderA.id });
        assert.deepEqual(m.finalTo, { networkId: 0, localId: 0 });
        assert.equal(m.flags, 0);
        assert.equal(text(m), data);
      };
      check(await next(star, '$.Cross.One on B'), '$.Cross.One', one.serialNum, 'one');
      check(
        await next(star, '$.Cross.Deep.Name on B'),
        '$.Cross.Deep.Name',
        deep.serialNum,
        'deep',
      );
      check(await next(percent, '$.Cross.One on B (%)'), '$.Cross.One', one.serialNum, 'one');
      check(await next(exact, 'the exact name on B'), '$.Cross.Deep.Name', deep.serialNum, 'deep');

      // And back: B to A.
      const back = await senderB.announce('$.Back.Here', 'back', { flags: 0x00010000 });
      const m = await next(onA, '$.Back.Here on A');
      assert.deepEqual(m.id, { networkId: 2, serialNum: back.serialNum });
      assert.equal(m.from, s.la);
      assert.deepEqual(m.origFrom, { networkId: 2, localId: senderB.id });
      assert.equal(m.flags, 0x00010000);
      assert.equal(text(m), 'back');

      // '%' matched one level only: its next message is a marker, not the deep name.
      await senderA.announce('$.Cross.Marker', '');
      assert.equal((await next(percent, 'the marker (%)')).name, '$.Cross.Marker');
    });

    test('no echo: nothing comes back to the bus it came from (markers)', async () => {
      const senderA = await ksock(s.a, s.cleanup);
      const senderB = await ksock(s.b, s.cleanup);
      const onA = await ksock(s.a, s.cleanup);
      const onB = await ksock(s.b, s.cleanup);
      await onA.bind('$.Echo.*');
      await onB.bind('$.Echo.*');

      await senderA.announce('$.Echo.FromA', 'a');
      assert.equal((await next(onA, 'FromA on A')).name, '$.Echo.FromA');
      assert.equal((await next(onB, 'FromA on B')).name, '$.Echo.FromA');
      // Had LB sent FromA back, it would reach A before this marker from B.
      await senderB.announce('$.Echo.MarkB', 'b');
      assert.equal((await next(onB, 'MarkB on B')).name, '$.Echo.MarkB');
      const seenA = await next(onA, 'MarkB on A');
      assert.equal(seenA.name, '$.Echo.MarkB', `A saw ${seenA.name} before the marker`);
      // Had LA sent MarkB back, it would reach B before this marker from A.
      await senderA.announce('$.Echo.MarkA', 'a');
      assert.equal((await next(onA, 'MarkA on A')).name, '$.Echo.MarkA');
      const seenB = await next(onB, 'MarkA on B');
      assert.equal(seenB.name, '$.Echo.MarkA', `B saw ${seenB.name} before the marker`);
      // And nothing is queued behind the markers either.
      await senderB.announce('$.Echo.Last', '');
      assert.equal((await next(onA, 'Last on A')).name, '$.Echo.Last');
      assert.equal((await next(onB, 'Last on B')).name, '$.Echo.Last');
      assert.equal(await onA.next(), undefined);
    });

    test('a request and its reply cross, with the right ids (section 7 rows 1-9)', async () => {
      const S = await ksock(s.a, s.cleanup);
      const R = await ksock(s.b, s.cleanup);
      const listenA = await ksock(s.a, s.cleanup);
      const listenB = await ksock(s.b, s.cleanup);
      await listenA.bind('$.Svc.*');
      await listenB.bind('$.Svc.*');
      await R.bind('$.Svc.Echo', { replier: true });
      assert.equal(await waitReplier(S, '$.Svc.Echo'), s.la);

      const pending = S.request('$.Svc.Echo', 'ping');
      const request = await next(R, 'the request at R');
      const sent = await S.lastSent();
      assert.equal(sent.networkId, 0);
      // Row 4.
      assert.equal(request.kind, 'request');
      assert.equal(request.name, '$.Svc.Echo');
      assert.deepEqual(request.id, { networkId: 1, serialNum: sent.serialNum });
      assert.deepEqual(request.inReplyTo, { networkId: 0, serialNum: 0 });
      assert.equal(request.to, 0);
      assert.equal(request.from, s.lb);
      assert.deepEqual(request.origFrom, { networkId: 1, localId: S.id });
      assert.deepEqual(request.finalTo, { networkId: 0, localId: 0 });
      assert.equal(request.flags, WANT_A_REPLY | WYTR);
      assert.equal(text(request), 'ping');

      await R.replyTo(request, 'pong');
      const reply = await within(pending, 'the reply at S');
      // Row 9.
      assert.ok(reply instanceof Reply, `got ${reply.name}`);
      assert.equal(reply.name, '$.Svc.Echo');
      assert.equal(reply.id.networkId, 0);
      assert.deepEqual(reply.inReplyTo, sent);
      assert.equal(reply.to, S.id);
      assert.equal(reply.from, s.la);
      assert.deepEqual(reply.origFrom, { networkId: 2, localId: R.id });
      assert.deepEqual(reply.finalTo, { networkId: 0, localId: 0 });
      assert.equal(reply.flags, 0);
      assert.equal(text(reply), 'pong');

      // Listeners: on A, row 2 (flags 0x1) and row 9; on B, row 4 (flags 0x1) and row 6.
      const a1 = await next(listenA, 'the request copy on A');
      assert.deepEqual([a1.id, a1.from, a1.flags], [sent, S.id, WANT_A_REPLY]);
      const a2 = await next(listenA, 'the reply copy on A');
      assert.deepEqual([a2.inReplyTo, a2.to, a2.from], [sent, S.id, s.la]);
      const b1 = await next(listenB, 'the request copy on B');
      assert.deepEqual([b1.id, b1.from, b1.flags], [request.id, s.lb, WANT_A_REPLY]);
      const b2 = await next(listenB, 'the reply copy on B');
      assert.deepEqual(
        [b2.inReplyTo, b2.to, b2.from, b2.id.networkId],
        [request.id, s.lb, R.id, 0],
      );
      await R.close();
    });

    test('a stateful request reaches the far replier (section 7 rows 10-14)', async () => {
      const S = await ksock(s.a, s.cleanup);
      const R = await ksock(s.b, s.cleanup);
      await R.bind('$.Svc.State', { replier: true });
      await waitReplier(S, '$.Svc.State');
      const first = S.request('$.Svc.State', 'hello');
      await R.replyTo(await next(R, 'the first request'), 'first');
      const reply = await within(first, 'the first reply');
      assert.ok(reply instanceof Reply);
      assert.deepEqual(reply.origFrom, { networkId: 2, localId: R.id });

      // Built from the reply: to its from, final_to its orig_from.
      const id = await S.send({
        name: '$.Svc.State',
        to: reply.from,
        finalTo: reply.origFrom,
        flags: WANT_A_REPLY,
        data: enc('again'),
      });
      const request = await next(R, 'the stateful request');
      // Row 14.
      assert.deepEqual(request.id, { networkId: 1, serialNum: id.serialNum });
      assert.equal(request.to, R.id);
      assert.equal(request.from, s.lb);
      assert.deepEqual(request.origFrom, { networkId: 1, localId: S.id });
      assert.deepEqual(request.finalTo, { networkId: 0, localId: R.id });
      assert.equal(request.flags, WANT_A_REPLY | WYTR);
      await R.replyTo(request, 'second');
      const second = await next(S, 'the stateful reply');
      assert.ok(second instanceof Reply);
      assert.deepEqual(second.inReplyTo, id);
      assert.equal(second.from, s.la);
      assert.equal(text(second), 'second');
      await R.close();
    });

    test("NotSameKsock when the replier was replaced (row 13')", async () => {
      const S = await ksock(s.a, s.cleanup);
      const watcher = await ksock(s.a, s.cleanup);
      await watcher.bind('$.KBUS.ReplierBindEvent');
      const R = await ksock(s.b, s.cleanup);
      await R.bind('$.Svc.Replaced', { replier: true });
      await waitBindEvent(watcher, '$.Svc.Replaced', s.la, true);
      const first = S.request('$.Svc.Replaced', 'hello');
      await R.replyTo(await next(R, 'the first request'), 'first');
      const reply = await within(first, 'the first reply');
      assert.ok(reply instanceof Reply);

      // R goes, R2 takes the name; LA sees two events and binds again.
      await R.close();
      const R2 = await ksock(s.b, s.cleanup);
      await R2.bind('$.Svc.Replaced', { replier: true });
      await waitBindEvent(watcher, '$.Svc.Replaced', s.la, false);
      await waitBindEvent(watcher, '$.Svc.Replaced', s.la, true);

      const id = await S.send({
        name: '$.Svc.Replaced',
        to: reply.from,
        finalTo: reply.origFrom,
        flags: WANT_A_REPLY,
      });
      const answer = await next(S, 'the NotSameKsock');
      // Row 14'.
      assert.ok(answer instanceof Status, `got a ${answer.kind}`);
      assert.equal(answer.name, '$.KBUS.Replier.NotSameKsock');
      assert.deepEqual(answer.inReplyTo, id);
      assert.equal(answer.id.networkId, 0);
      assert.equal(answer.to, S.id);
      assert.equal(answer.from, s.la);
      assert.deepEqual(answer.origFrom, { networkId: 2, localId: 0 });
      assert.deepEqual(answer.finalTo, { networkId: 0, localId: 0 });
      assert.equal(answer.flags & SYNTHETIC, 0);
      assert.equal(answer.data.length, 0);

      // R2 was never given it: its first message is the next plain request.
      const plainRequest = S.request('$.Svc.Replaced', 'plain');
      const got = await next(R2, 'the plain request at R2');
      assert.equal(text(got), 'plain');
      await R2.replyTo(got, 'ok');
      assert.ok((await within(plainRequest, 'the plain reply')) instanceof Reply);
      await R2.close();
    });

    test('GoneAway when the far replier is gone but the proxy still stands', async () => {
      const S = await ksock(s.a, s.cleanup);
      const R = await ksock(s.b, s.cleanup);
      const onB = await ksock(s.b, s.cleanup);
      await R.bind('$.Svc.Gone', { replier: true });
      await waitReplier(S, '$.Svc.Gone');
      const first = S.request('$.Svc.Gone', 'hello');
      await R.replyTo(await next(R, 'the first request'), 'first');
      const reply = await within(first, 'the first reply');
      assert.ok(reply instanceof Reply);

      // Hold LB still, so that the unbind cannot reach A: LA keeps proxying.
      const lb = s.pair.server.child;
      lb.kill('SIGSTOP');
      let id: Awaited<ReturnType<Ksock['send']>>;
      try {
        await waitFor(() => processState(lb.pid!) === 'T', 'LB to stop');
        await R.close();
        await waitReplier(onB, '$.Svc.Gone', (r) => r === 0, 'no replier on B');
        assert.equal(await S.replier('$.Svc.Gone'), s.la);
        id = await S.send({
          name: '$.Svc.Gone',
          to: reply.from,
          finalTo: reply.origFrom,
          flags: WANT_A_REPLY,
        });
      } finally {
        lb.kill('SIGCONT');
      }
      const answer = await next(S, 'the GoneAway');
      assert.equal(answer.name, '$.KBUS.Replier.GoneAway');
      assert.deepEqual(answer.inReplyTo, id);
      assert.equal(answer.to, S.id);
      assert.equal(answer.from, s.la);
      // Generated by LB, not by A's daemon: orig_from {2,0}, no SYNTHETIC.
      assert.deepEqual(answer.origFrom, { networkId: 2, localId: 0 });
      assert.equal(answer.flags & SYNTHETIC, 0);
      // And the proxy goes once LB passes the unbind on.
      await waitReplier(S, '$.Svc.Gone', (r) => r === 0, 'the proxy to go');
    });

    test("RemoteError.16 when the far replier's queue is full; GoneAway when it closes", async () => {
      const S1 = await ksock(s.a, s.cleanup);
      const S2 = await ksock(s.a, s.cleanup);
      const F = await ksock(s.b, s.cleanup);
      await F.maxMessages(1);
      await F.bind('$.Svc.Full', { replier: true });
      await waitReplier(S1, '$.Svc.Full');

      const one = S1.request('$.Svc.Full', 'one');
      await waitFor(async () => (await F.numMessages()) === 1, "the first request in F's queue");
      const id1 = await S1.lastSent();
      const two = await within(S2.request('$.Svc.Full', 'two'), 'the RemoteError');
      const id2 = await S2.lastSent();
      assert.ok(two instanceof Status, `got a ${two.kind} ${two.name}`);
      assert.equal(two.name, '$.KBUS.RemoteError.16');
      assert.deepEqual(two.inReplyTo, id2);
      assert.equal(two.to, S2.id);
      assert.equal(two.from, s.la);
      assert.deepEqual(two.origFrom, { networkId: 2, localId: 0 });
      assert.equal(two.data.length, 0);

      // F closes without reading: B's daemon says GoneAway to LB, which relays it.
      await F.close();
      const gone = await within(one, 'the GoneAway for the first request');
      assert.equal(gone.name, '$.KBUS.Replier.GoneAway');
      assert.deepEqual(gone.inReplyTo, id1);
      assert.equal(gone.from, s.la);
      assert.deepEqual(gone.origFrom, { networkId: 2, localId: F.id });
      // A relayed status arrives without SYNTHETIC (5.3).
      assert.equal(gone.flags & SYNTHETIC, 0);
    });

    test('a wildcard replier is proxied as bound; the daemon still picks it', async () => {
      const S = await ksock(s.a, s.cleanup);
      const R = await ksock(s.b, s.cleanup);
      await R.bind('$.Wild.*', { replier: true });
      assert.equal(await waitReplier(S, '$.Wild.*'), s.la);
      const pending = S.request('$.Wild.Thing.One', 'w');
      const request = await next(R, 'the request at the wildcard replier');
      assert.equal(request.name, '$.Wild.Thing.One');
      assert.ok(request.wantsYouToReply);
      await R.replyTo(request, 'caught');
      const reply = await within(pending, 'the reply');
      assert.ok(reply instanceof Reply);
      assert.equal(text(reply), 'caught');
      await R.close();
      await waitReplier(S, '$.Wild.*', (r) => r === 0, 'the wildcard proxy to go');
    });

    test('requests between two parties on one bus are not seen by far listeners (9.2)', async () => {
      const RQ = await ksock(s.b, s.cleanup);
      const RL = await ksock(s.b, s.cleanup);
      const senderB = await ksock(s.b, s.cleanup);
      const farListener = await ksock(s.a, s.cleanup);
      await farListener.bind('$.Local.*');
      await RL.bind('$.Local.Svc', { replier: true });
      const pending = RQ.request('$.Local.Svc', 'q');
      await RL.replyTo(await next(RL, 'the local request'), 'a');
      assert.ok((await within(pending, 'the local reply')) instanceof Reply);
      await senderB.announce('$.Local.Marker', '');
      const first = await next(farListener, 'the marker on A');
      assert.equal(first.name, '$.Local.Marker', `A saw ${first.name} (${first.kind}) first`);
      await RL.close();
    });

    test('a message with 1 MiB of data (the default limit) crosses whole', async () => {
      const sender = await ksock(s.a, s.cleanup);
      const listener = await ksock(s.b, s.cleanup);
      await listener.bind('$.Big.*');
      const data = new Uint8Array(1024 * 1024);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 11)) & 0xff;
      await sender.announce('$.Big.Data', data);
      const m = await next(listener, 'the big message');
      assert.equal(m.data.length, data.length);
      assert.ok(Buffer.from(m.data).equals(Buffer.from(data)), 'the data arrives unchanged');
    });

    test('requests cross from B to A as well', async () => {
      const S = await ksock(s.b, s.cleanup);
      const R = await ksock(s.a, s.cleanup);
      await R.bind('$.Other.Way', { replier: true });
      assert.equal(await waitReplier(S, '$.Other.Way'), s.lb);
      const pending = S.request('$.Other.Way', 'x');
      const sent = await S.lastSent();
      const request = await next(R, 'the request on A');
      assert.deepEqual(request.id, { networkId: 2, serialNum: sent.serialNum });
      assert.equal(request.from, s.la);
      assert.deepEqual(request.origFrom, { networkId: 2, localId: S.id });
      await R.replyTo(request, 'y');
      const reply = await within(pending, 'the reply on B');
      assert.ok(reply instanceof Reply);
      assert.deepEqual(reply.inReplyTo, sent);
      assert.equal(reply.from, s.lb);
      assert.deepEqual(reply.origFrom, { networkId: 1, localId: R.id });
      await R.close();
    });

    test('SIGTERM stops a Limpet (exit 0), its peer stops (non-zero), the Unix socket goes', async () => {
      // Last: this ends the pair. `kbus limpet` turns SIGTERM into runLimpet's
      // signal, documented as "Aborting stops the Limpet (exit 0)".
      s.pair.client.child.kill('SIGTERM');
      const client = await s.pair.client.exit();
      assert.deepEqual(
        client,
        { code: 0, signal: null },
        `a requested stop is not a failure; stderr:\n${s.pair.client.stderr()}`,
      );
      const server = await s.pair.server.exit();
      assert.notEqual(server.code, 0, 'the server lost its link');
      assert.equal(server.signal, null);
      if (s.pair.address.path) {
        assert.equal(existsSync(s.pair.address.path), false, 'the Unix socket path is removed');
      }
      // Both daemons carry on; the proxies are gone.
      const onA = await ksock(s.a, s.cleanup);
      await waitReplier(onA, '$.Early.Svc', (r) => r === 0, 'the proxy on A to go');
      await onA.announce('$.Still.Serving', '');
    });
  });
}
