/**
 * Three buses in a chain, A - B - C (limpet.md section 8), with real
 * processes: LA (1) on A is a client of LB (2) on B over TCP; LC (3) on B is
 * a client of LD (4) on C over a Unix socket. The worked example checked
 * field by field as clients on each bus see it.
 */
import assert from 'node:assert/strict';
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
  receiveUntil,
  startPair,
  waitReplier,
  within,
} from './helpers.js';

const WANT_A_REPLY = 0x1;
const WYTR = 0x2;
const SYNTHETIC = 0x4;
const text = (m: KbusMessage) => Buffer.from(m.data).toString();
const NO_ADDRESS = { networkId: 0, localId: 0 };

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

describe('three buses in a chain: A - B - C (section 8)', () => {
  const cleanup = new Cleanup();
  let a: RunningDaemon;
  let b: RunningDaemon;
  let c: RunningDaemon;
  /** Ksock ids: LA on A, LB and LC on B, LD on C. */
  let LA: number;
  let LB: number;
  let LC: number;
  let LD: number;

  before(async () => {
    a = await daemon(cleanup);
    b = await daemon(cleanup);
    c = await daemon(cleanup);
    await startPair(b, a, { kind: 'tcp', serverId: 2, clientId: 1 }, cleanup);
    await startPair(c, b, { kind: 'unix', serverId: 4, clientId: 3, original: true }, cleanup);
    ({ nearLimpet: LA, farLimpet: LB } = await linked(a, b, cleanup));
    ({ nearLimpet: LC, farLimpet: LD } = await linked(b, c, cleanup));
    assert.notEqual(LB, LC);
  });

  after(async () => {
    await cleanup.run();
  });

  test("proxies: R's bind on C makes LC the replier on B and LA the replier on A", async () => {
    const R = await ksock(c, cleanup);
    const onA = await ksock(a, cleanup);
    const onB = await ksock(b, cleanup);
    await R.bind('$.Chain.Proxy', { replier: true });
    assert.equal(await waitReplier(onB, '$.Chain.Proxy'), LC);
    assert.equal(await waitReplier(onA, '$.Chain.Proxy'), LA);
    await R.close();
    await waitReplier(onA, '$.Chain.Proxy', (r) => r === 0, 'the proxy on A to go');
    assert.equal(await onB.replier('$.Chain.Proxy'), 0);
  });

  test('request, reply and stateful request along the chain, field by field', async () => {
    const S = await ksock(a, cleanup);
    const R = await ksock(c, cleanup);
    const listenA = await ksock(a, cleanup);
    const listenB = await ksock(b, cleanup);
    const listenC = await ksock(c, cleanup);
    for (const l of [listenA, listenB, listenC]) await l.bind('$.Chain.*');
    await R.bind('$.Chain.Q', { replier: true });
    await waitReplier(S, '$.Chain.Q');

    // Request: {0,s} on A, {1,s} on B and C; orig_from {1,S} throughout.
    const pending = S.request('$.Chain.Q', 'ping');
    const atR = await next(R, 'the request at R');
    const sent = await S.lastSent();
    const s = sent.serialNum;
    assert.equal(sent.networkId, 0);
    assert.deepEqual(
      [atR.id, atR.to, atR.from, atR.origFrom, atR.finalTo, atR.flags, text(atR)],
      [
        { networkId: 1, serialNum: s },
        0,
        LD,
        { networkId: 1, localId: S.id },
        NO_ADDRESS,
        WANT_A_REPLY | WYTR,
        'ping',
      ],
      'R sees from = LD',
    );
    const onA1 = await next(listenA, 'the request on A');
    assert.deepEqual(
      [onA1.id, onA1.from, onA1.origFrom, onA1.flags],
      [sent, S.id, NO_ADDRESS, WANT_A_REPLY],
    );
    const onB1 = await next(listenB, 'the request on B');
    assert.deepEqual(
      [onB1.id, onB1.to, onB1.from, onB1.origFrom, onB1.flags],
      [{ networkId: 1, serialNum: s }, 0, LB, { networkId: 1, localId: S.id }, WANT_A_REPLY],
      'on B, LB injected it (the listener copy)',
    );
    const onC1 = await next(listenC, 'the request on C');
    assert.deepEqual(
      [onC1.id, onC1.from, onC1.origFrom, onC1.flags],
      [{ networkId: 1, serialNum: s }, LD, { networkId: 1, localId: S.id }, WANT_A_REPLY],
    );

    // Reply: R writes {0,r}, in_reply_to {1,s}, to LD.
    await R.replyTo(atR, 'pong');
    const reply = await within(pending, 'the reply at S');
    assert.ok(reply instanceof Reply, `got ${reply.name}`);
    assert.deepEqual(
      [
        reply.id.networkId,
        reply.inReplyTo,
        reply.to,
        reply.from,
        reply.origFrom,
        reply.finalTo,
        reply.flags,
        text(reply),
      ],
      [0, sent, S.id, LA, { networkId: 4, localId: R.id }, NO_ADDRESS, 0, 'pong'],
      'S sees from LA, orig_from {4,R}',
    );
    const onC2 = await next(listenC, 'the reply on C');
    const r = onC2.id.serialNum;
    assert.deepEqual(
      [onC2.id.networkId, onC2.inReplyTo, onC2.to, onC2.from, onC2.origFrom],
      [0, { networkId: 1, serialNum: s }, LD, R.id, NO_ADDRESS],
    );
    assert.ok(r > 0);
    const onB2 = await next(listenB, 'the reply on B');
    assert.deepEqual(
      [onB2.id.networkId, onB2.inReplyTo, onB2.to, onB2.from, onB2.origFrom, text(onB2)],
      [0, { networkId: 1, serialNum: s }, LB, LC, { networkId: 4, localId: R.id }, 'pong'],
      'LC injects it on B: to LB, in_reply_to {1,s}',
    );
    const onA2 = await next(listenA, 'the reply on A');
    assert.deepEqual(
      [onA2.id.networkId, onA2.inReplyTo, onA2.to, onA2.from, onA2.origFrom],
      [0, sent, S.id, LA, { networkId: 4, localId: R.id }],
    );

    // Stateful: to LA, final_to {4,R}.
    assert.equal(reply.from, LA);
    const id2 = await S.send({
      name: '$.Chain.Q',
      to: reply.from,
      finalTo: reply.origFrom,
      flags: WANT_A_REPLY,
      data: new TextEncoder().encode('again'),
    });
    const atR2 = await next(R, 'the stateful request at R');
    assert.deepEqual(
      [atR2.id, atR2.to, atR2.from, atR2.origFrom, atR2.finalTo, atR2.flags],
      [
        { networkId: 1, serialNum: id2.serialNum },
        R.id,
        LD,
        { networkId: 1, localId: S.id },
        { networkId: 0, localId: R.id },
        WANT_A_REPLY | WYTR,
      ],
      'at LD: local, final_to {0,R}, to R',
    );
    const onB3 = await next(listenB, 'the stateful request on B');
    assert.deepEqual(
      [onB3.id, onB3.to, onB3.from, onB3.finalTo],
      [{ networkId: 1, serialNum: id2.serialNum }, LC, LB, { networkId: 4, localId: R.id }],
      'at LB: passing through, to = LC, final_to unchanged',
    );
    const onA3 = await next(listenA, 'the stateful request on A');
    assert.deepEqual([onA3.to, onA3.finalTo], [LA, { networkId: 4, localId: R.id }]);
    await R.replyTo(atR2, 'second');
    const second = await next(S, 'the stateful reply');
    assert.ok(second instanceof Reply);
    assert.deepEqual(
      [second.inReplyTo, second.from, second.origFrom, text(second)],
      [id2, LA, { networkId: 4, localId: R.id }, 'second'],
    );
    await R.close();
  });

  test('NotSameKsock from LD when R was replaced; S gets it from LA with orig_from {4,0}', async () => {
    const S = await ksock(a, cleanup);
    const watcher = await ksock(a, cleanup);
    await watcher.bind('$.KBUS.ReplierBindEvent');
    const R = await ksock(c, cleanup);
    await R.bind('$.Chain.NS', { replier: true });
    await waitBindEvent(watcher, '$.Chain.NS', LA, true);
    const first = S.request('$.Chain.NS', 'hi');
    await R.replyTo(await next(R, 'the first request'), 'first');
    const reply = await within(first, 'the first reply');
    assert.ok(reply instanceof Reply);

    await R.close();
    const R2 = await ksock(c, cleanup);
    await R2.bind('$.Chain.NS', { replier: true });
    await waitBindEvent(watcher, '$.Chain.NS', LA, false);
    await waitBindEvent(watcher, '$.Chain.NS', LA, true);

    const id = await S.send({
      name: '$.Chain.NS',
      to: reply.from,
      finalTo: reply.origFrom,
      flags: WANT_A_REPLY,
    });
    const answer = await next(S, 'the NotSameKsock');
    assert.ok(answer instanceof Status);
    assert.deepEqual(
      [
        answer.name,
        answer.inReplyTo,
        answer.to,
        answer.from,
        answer.origFrom,
        answer.finalTo,
        answer.flags & SYNTHETIC,
        answer.data.length,
      ],
      ['$.KBUS.Replier.NotSameKsock', id, S.id, LA, { networkId: 4, localId: 0 }, NO_ADDRESS, 0, 0],
    );
    // R2 never got the stateful request: its first message is this one.
    const plain = S.request('$.Chain.NS', 'plain');
    const got = await next(R2, 'the plain request at R2');
    assert.equal(text(got), 'plain');
    await R2.replyTo(got, 'ok');
    assert.ok((await within(plain, 'the plain reply')) instanceof Reply);
    await R2.close();
  });

  test('an announcement from A arrives as {1,s}, seen once on each bus (markers)', async () => {
    const senderA = await ksock(a, cleanup);
    const senderB = await ksock(b, cleanup);
    const senderC = await ksock(c, cleanup);
    const lA = await ksock(a, cleanup);
    const lB = await ksock(b, cleanup);
    const lC = await ksock(c, cleanup);
    for (const l of [lA, lB, lC]) await l.bind('$.Ann.*');

    const id = await senderA.announce('$.Ann.X', 'x');
    const onA = await next(lA, 'X on A');
    assert.deepEqual([onA.id, onA.from, onA.origFrom], [id, senderA.id, NO_ADDRESS]);
    const onB = await next(lB, 'X on B');
    assert.deepEqual(
      [onB.name, onB.id, onB.from, onB.origFrom],
      [
        '$.Ann.X',
        { networkId: 1, serialNum: id.serialNum },
        LB,
        { networkId: 1, localId: senderA.id },
      ],
    );
    const onC = await next(lC, 'X on C');
    assert.deepEqual(
      [onC.name, onC.id, onC.from, onC.origFrom],
      [
        '$.Ann.X',
        { networkId: 1, serialNum: id.serialNum },
        LD,
        { networkId: 1, localId: senderA.id },
      ],
    );

    // A copy of X sent back by LD, LC or LB would come before a marker from C.
    await senderC.announce('$.Ann.M1', '');
    for (const [l, bus] of [
      [lC, 'C'],
      [lB, 'B'],
      [lA, 'A'],
    ] as const) {
      const m = await next(l, `M1 on ${bus}`);
      assert.equal(m.name, '$.Ann.M1', `${bus} saw ${m.name} before the marker from C`);
    }
    // And a copy circulating towards C would come before a marker from A.
    await senderA.announce('$.Ann.M2', '');
    for (const [l, bus] of [
      [lA, 'A'],
      [lB, 'B'],
      [lC, 'C'],
    ] as const) {
      const m = await next(l, `M2 on ${bus}`);
      assert.equal(m.name, '$.Ann.M2', `${bus} saw ${m.name} before the marker from A`);
    }
    // Markers from the middle, both ways.
    await senderB.announce('$.Ann.M3', '');
    for (const [l, bus] of [
      [lB, 'B'],
      [lA, 'A'],
      [lC, 'C'],
    ] as const) {
      const m = await next(l, `M3 on ${bus}`);
      assert.equal(m.name, '$.Ann.M3', `${bus} saw ${m.name} before the marker from B`);
    }
  });

  test('an announcement from C reaches A as {4,s}, through LD, LC, LB, LA', async () => {
    const senderC = await ksock(c, cleanup);
    const lA = await ksock(a, cleanup);
    const lB = await ksock(b, cleanup);
    await lA.bind('$.Up.*');
    await lB.bind('$.Up.*');
    const id = await senderC.announce('$.Up.Y', 'y');
    const onB = await next(lB, 'Y on B');
    assert.deepEqual(
      [onB.id, onB.from, onB.origFrom],
      [{ networkId: 4, serialNum: id.serialNum }, LC, { networkId: 4, localId: senderC.id }],
    );
    const onA = await next(lA, 'Y on A');
    assert.deepEqual(
      [onA.id, onA.from, onA.origFrom, text(onA)],
      [{ networkId: 4, serialNum: id.serialNum }, LA, { networkId: 4, localId: senderC.id }, 'y'],
    );
  });

  test('a request from C to a replier on A crosses the chain the other way', async () => {
    const S = await ksock(c, cleanup);
    const R = await ksock(a, cleanup);
    await R.bind('$.Down.Svc', { replier: true });
    assert.equal(await waitReplier(S, '$.Down.Svc'), LD);
    const pending = S.request('$.Down.Svc', 'q');
    const sent = await S.lastSent();
    const atR = await next(R, 'the request at R on A');
    assert.deepEqual(
      [atR.id, atR.from, atR.origFrom],
      [{ networkId: 4, serialNum: sent.serialNum }, LA, { networkId: 4, localId: S.id }],
    );
    await R.replyTo(atR, 'a');
    const reply = await within(pending, 'the reply on C');
    assert.ok(reply instanceof Reply);
    assert.deepEqual(
      [reply.inReplyTo, reply.to, reply.from, reply.origFrom],
      [sent, S.id, LD, { networkId: 1, localId: R.id }],
    );
    await R.close();
  });
});
