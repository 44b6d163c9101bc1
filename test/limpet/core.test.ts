/**
 * LimpetCore, the forwarding rules of limpet.md section 5 without I/O: every
 * rule of 5.1 (bus -> link) and 5.2 (link -> bus), the flags of 5.3, the
 * generated messages of 5.5, section 10.2, and the worked examples of
 * sections 7 and 8, field by field, as one Limpet decides them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LimpetCore, type LimpetIds } from '../../src/limpet/index.js';
import {
  encodeReplierBindEvent,
  Flags,
  type Message,
  type MessageInit,
  makeMessage,
} from '../../src/wire/index.js';

const WANT_A_REPLY = Flags.WANT_A_REPLY;
const WYTR = Flags.WANT_YOU_TO_REPLY;
const SYNTHETIC = Flags.SYNTHETIC;
const URGENT = Flags.URGENT;
const ALL_OR_WAIT = Flags.ALL_OR_WAIT;
const ALL_OR_FAIL = Flags.ALL_OR_FAIL;
const USER = 0xabcd0000;

const GONE_AWAY = '$.KBUS.Replier.GoneAway';
const NOT_SAME = '$.KBUS.Replier.NotSameKsock';
const BIND_EVENT = '$.KBUS.ReplierBindEvent';

const data = (text: string) => new TextEncoder().encode(text);

/** A message in a form deepEqual compares fully (data as text). */
function plain(m: Message) {
  return { ...m, data: Buffer.from(m.data).toString('latin1') };
}

/** The fields of a message as the worked examples' tables give them. */
interface Row {
  id: [number, number];
  inReplyTo: [number, number];
  to: number;
  from: number;
  origFrom: [number, number];
  finalTo: [number, number];
  flags: number;
  name?: string;
  data?: string;
}

function row(r: Row, name = '$.Q', text = ''): Message {
  return makeMessage({
    id: { networkId: r.id[0], serialNum: r.id[1] },
    inReplyTo: { networkId: r.inReplyTo[0], serialNum: r.inReplyTo[1] },
    to: r.to,
    from: r.from,
    origFrom: { networkId: r.origFrom[0], localId: r.origFrom[1] },
    finalTo: { networkId: r.finalTo[0], localId: r.finalTo[1] },
    extra: 0,
    flags: r.flags,
    name: r.name ?? name,
    data: data(r.data ?? text),
  });
}

/** Asserts `m` has exactly the row's fields. */
function assertRow(m: Message | undefined, r: Row, what: string, name = '$.Q', text = '') {
  assert.ok(m, `${what}: no message`);
  assert.deepEqual(plain(m), plain(row(r, name, text)), what);
}

function core(ids: LimpetIds, termination?: string) {
  return new LimpetCore(ids, termination);
}

function bindEvent(isBind: boolean, binder: number, name: string, init: Partial<MessageInit> = {}) {
  return makeMessage({
    name: BIND_EVENT,
    flags: SYNTHETIC,
    id: { networkId: 0, serialNum: 40 },
    data: encodeReplierBindEvent({ isBind, binder, name }),
    ...init,
  });
}

// The Limpet under test: N = 1, P = 2, K = 5 (LA of section 7).
const N = 1;
const P = 2;
const K = 5;
const LA = { networkId: N, peerId: P, ksockId: K };

function forwarded(action: ReturnType<LimpetCore['fromBus']>): Message {
  assert.equal(action.kind, 'forward', `expected forward, got ${JSON.stringify(action)}`);
  return (action as { message: Message }).message;
}

function dropped(action: ReturnType<LimpetCore['fromBus']>): void {
  assert.equal(action.kind, 'drop', `expected drop, got ${JSON.stringify(action)}`);
}

describe('5.1 bus -> link', () => {
  describe('rule 1: the termination name', () => {
    test('stops, whatever kind of message has the name', () => {
      const c = core(LA, '$.Stop.Now');
      assert.deepEqual(c.fromBus(makeMessage({ name: '$.Stop.Now', from: 3 })), { kind: 'stop' });
      assert.deepEqual(
        c.fromBus(makeMessage({ name: '$.Stop.Now', from: 3, flags: WANT_A_REPLY | WYTR })),
        { kind: 'stop' },
      );
      assert.equal(c.pendingCount, 0);
    });

    test('without -t nothing stops, and other names are unaffected', () => {
      assert.equal(core(LA).fromBus(makeMessage({ name: '$.Stop.Now', from: 3 })).kind, 'forward');
      assert.equal(
        core(LA, '$.Stop.Now').fromBus(makeMessage({ name: '$.Stop.Now2', from: 3 })).kind,
        'forward',
      );
      assert.equal(
        core(LA, '$.Stop.Now').fromBus(makeMessage({ name: '$.Stop', from: 3 })).kind,
        'forward',
      );
    });
  });

  describe('rule 2: $.KBUS.ReplierBindEvent', () => {
    test('binder = K (our own proxy bind or unbind) is dropped', () => {
      dropped(core(LA).fromBus(bindEvent(true, K, '$.Q')));
      dropped(core(LA).fromBus(bindEvent(false, K, '$.Q')));
    });

    test('any other binder is forwarded, stamped, data untouched', () => {
      const event = bindEvent(true, 4, '$.Q');
      const m = forwarded(core(LA).fromBus(event));
      assert.deepEqual(
        plain(m),
        plain({
          ...event,
          id: { networkId: N, serialNum: 40 },
          origFrom: { networkId: N, localId: 0 },
        }),
      );
      const unbind = forwarded(core(LA).fromBus(bindEvent(false, 9, '$.R.*')));
      assert.deepEqual(
        unbind.data,
        encodeReplierBindEvent({ isBind: false, binder: 9, name: '$.R.*' }),
      );
    });

    test('without SYNTHETIC it is dropped, whatever its data (10.2)', () => {
      dropped(core(LA).fromBus(bindEvent(true, 4, '$.Q', { flags: 0, from: 3 })));
      dropped(core(LA).fromBus(bindEvent(true, K, '$.Q', { flags: 0, from: 3 })));
      dropped(
        core(LA).fromBus(makeMessage({ name: BIND_EVENT, from: 3, data: Uint8Array.of(1, 2, 3) })),
      );
    });
  });

  test('rule 3: $.KBUS.UnbindEventsLost is dropped', () => {
    dropped(
      core(LA).fromBus(
        makeMessage({
          name: '$.KBUS.UnbindEventsLost',
          flags: SYNTHETIC,
          id: { networkId: 0, serialNum: 3 },
        }),
      ),
    );
  });

  describe('rule 4: replies', () => {
    test('a reply to K is forwarded, stamped', () => {
      const reply = makeMessage({
        name: '$.Q',
        id: { networkId: 0, serialNum: 30 },
        inReplyTo: { networkId: 2, serialNum: 21 },
        to: K,
        from: 4,
        data: data('pong'),
        extra: 77,
        flags: (USER | URGENT) >>> 0,
      });
      const m = forwarded(core(LA).fromBus(reply));
      assert.deepEqual(
        plain(m),
        plain({
          ...reply,
          id: { networkId: N, serialNum: 30 },
          origFrom: { networkId: N, localId: 4 },
        }),
      );
    });

    test('a daemon status about a request we injected is forwarded (to = K)', () => {
      const status = makeMessage({
        name: '$.KBUS.Replier.Ignored',
        id: { networkId: 0, serialNum: 8 },
        inReplyTo: { networkId: 2, serialNum: 3 },
        to: K,
        from: 4,
        flags: SYNTHETIC,
      });
      const m = forwarded(core(LA).fromBus(status));
      assert.equal(m.name, '$.KBUS.Replier.Ignored');
      assert.deepEqual(m.id, { networkId: N, serialNum: 8 });
      assert.deepEqual(m.origFrom, { networkId: N, localId: 4 });
      assert.deepEqual(m.inReplyTo, { networkId: 2, serialNum: 3 });
    });

    test('a reply keeps an orig_from that is already set', () => {
      const reply = makeMessage({
        name: '$.Q',
        id: { networkId: 0, serialNum: 30 },
        inReplyTo: { networkId: 2, serialNum: 21 },
        to: K,
        from: 9,
        origFrom: { networkId: 4, localId: 6 },
      });
      const m = forwarded(core(LA).fromBus(reply));
      assert.deepEqual(m.origFrom, { networkId: 4, localId: 6 });
      assert.deepEqual(m.id, { networkId: N, serialNum: 30 });
    });

    test('a listener copy of a reply (to someone else) is dropped', () => {
      const reply = makeMessage({
        name: '$.Q',
        id: { networkId: 0, serialNum: 30 },
        inReplyTo: { networkId: 0, serialNum: 21 },
        to: 3,
        from: 4,
      });
      dropped(core(LA).fromBus(reply));
    });

    test('an echo of a reply we injected (to the requester, from K) is dropped', () => {
      const reply = makeMessage({
        name: '$.Q',
        id: { networkId: 0, serialNum: 22 },
        inReplyTo: { networkId: 0, serialNum: 21 },
        to: 3,
        from: K,
        origFrom: { networkId: 2, localId: 4 },
      });
      dropped(core(LA).fromBus(reply));
    });

    test('a reply is judged as a reply even with WANT_A_REPLY set', () => {
      const odd = makeMessage({
        name: '$.Q',
        id: { networkId: 0, serialNum: 30 },
        inReplyTo: { networkId: 0, serialNum: 21 },
        to: 3,
        from: 4,
        flags: WANT_A_REPLY | WYTR,
      });
      dropped(core(LA).fromBus(odd));
      assert.equal(core(LA).fromBus({ ...odd, to: K }).kind, 'forward');
    });
  });

  describe('rule 5: requests', () => {
    test('WYTR clear: a listener copy, dropped, nothing pending', () => {
      const c = core(LA);
      dropped(
        c.fromBus(
          makeMessage({
            name: '$.Q',
            id: { networkId: 0, serialNum: 21 },
            from: 3,
            flags: WANT_A_REPLY,
          }),
        ),
      );
      assert.equal(c.pendingCount, 0);
    });

    test('WYTR set and from = K: answered at once on the bus with GoneAway (to = K)', () => {
      const c = core(LA);
      const request = makeMessage({
        name: '$.Q',
        id: { networkId: 2, serialNum: 17 },
        from: K,
        origFrom: { networkId: 2, localId: 6 },
        flags: (WANT_A_REPLY | WYTR | USER) >>> 0,
        data: data('ping'),
      });
      const action = c.fromBus(request);
      assert.equal(action.kind, 'inject');
      const m = (action as { message: Message }).message;
      // Section 5.5, with to = K.
      assertRow(
        m,
        {
          id: [0, 0],
          inReplyTo: [2, 17],
          to: K,
          from: 0,
          origFrom: [N, 0],
          finalTo: [0, 0],
          flags: 0,
        },
        'self-loop GoneAway',
        GONE_AWAY,
      );
      assert.equal(c.pendingCount, 0);
      // That answer comes back from the bus by rule 4 (to = K) and crosses.
      const back = forwarded(c.fromBus({ ...m, id: { networkId: 0, serialNum: 50 }, from: K }));
      assert.equal(back.name, GONE_AWAY);
      assert.deepEqual(back.inReplyTo, { networkId: 2, serialNum: 17 });
      assert.deepEqual(back.id, { networkId: N, serialNum: 50 });
      assert.deepEqual(back.origFrom, { networkId: N, localId: 0 });
    });

    test('otherwise: stamped, recorded as pending, forwarded', () => {
      const c = core(LA);
      const request = makeMessage({
        name: '$.Q',
        id: { networkId: 0, serialNum: 21 },
        from: 3,
        flags: WANT_A_REPLY | WYTR,
        data: data('ping'),
      });
      const m = forwarded(c.fromBus(request));
      assert.deepEqual(
        plain(m),
        plain({
          ...request,
          id: { networkId: N, serialNum: 21 },
          origFrom: { networkId: N, localId: 3 },
        }),
      );
      assert.equal(c.pendingCount, 1);
    });

    test('a request with a link id keeps it, and is pending under it', () => {
      const c = core(LA);
      const request = makeMessage({
        name: '$.Q',
        id: { networkId: 7, serialNum: 21 },
        from: 9,
        origFrom: { networkId: 7, localId: 3 },
        flags: WANT_A_REPLY | WYTR,
      });
      const m = forwarded(c.fromBus(request));
      assert.deepEqual(plain(m), plain(request));
      const reply = c.replyFromLink(
        makeMessage({
          name: '$.Q',
          id: { networkId: P, serialNum: 3 },
          inReplyTo: { networkId: 7, serialNum: 21 },
          to: K,
          from: 4,
        }),
      );
      assert.deepEqual(reply?.inReplyTo, { networkId: 7, serialNum: 21 });
      assert.equal(reply?.to, 9);
    });

    test('a stateful request (to = K) is forwarded with to and final_to unchanged', () => {
      const c = core(LA);
      const request = makeMessage({
        name: '$.Q',
        id: { networkId: 0, serialNum: 23 },
        to: K,
        from: 3,
        finalTo: { networkId: 2, localId: 4 },
        flags: WANT_A_REPLY | WYTR,
      });
      const m = forwarded(c.fromBus(request));
      assert.equal(m.to, K);
      assert.deepEqual(m.finalTo, { networkId: 2, localId: 4 });
      assert.equal(c.pendingCount, 1);
    });
  });

  describe('rule 6: announcements', () => {
    test('from = K (an echo of our own injection) is dropped', () => {
      dropped(
        core(LA).fromBus(
          makeMessage({
            name: '$.A',
            id: { networkId: 7, serialNum: 1 },
            from: K,
            origFrom: { networkId: 7, localId: 2 },
          }),
        ),
      );
    });

    test('id.network_id = N or P is dropped', () => {
      dropped(
        core(LA).fromBus(makeMessage({ name: '$.A', id: { networkId: N, serialNum: 1 }, from: 9 })),
      );
      dropped(
        core(LA).fromBus(makeMessage({ name: '$.A', id: { networkId: P, serialNum: 1 }, from: 9 })),
      );
    });

    test('a local announcement is stamped and forwarded', () => {
      const a = makeMessage({
        name: '$.A',
        id: { networkId: 0, serialNum: 12 },
        from: 3,
        flags: (USER | URGENT) >>> 0,
        extra: 5,
        data: data('x'),
      });
      const m = forwarded(core(LA).fromBus(a));
      assert.deepEqual(
        plain(m),
        plain({
          ...a,
          id: { networkId: N, serialNum: 12 },
          origFrom: { networkId: N, localId: 3 },
        }),
      );
    });

    test('an announcement from a third bus is forwarded unchanged', () => {
      const a = makeMessage({
        name: '$.A',
        id: { networkId: 3, serialNum: 12 },
        from: 9,
        origFrom: { networkId: 3, localId: 4 },
      });
      assert.deepEqual(plain(forwarded(core(LA).fromBus(a))), plain(a));
    });
  });

  describe('rule 7: stamping', () => {
    test('id {0,s} becomes {N,s}; orig_from {0,0} becomes {N,from}; nothing else changes', () => {
      const c = core(LA);
      const m = makeMessage({
        name: '$.A.B',
        id: { networkId: 0, serialNum: 0xfffffffe },
        inReplyTo: { networkId: 0, serialNum: 0 },
        to: 0,
        from: 0x12345678,
        finalTo: { networkId: 9, localId: 8 },
        extra: 0xdeadbeef,
        flags: (USER | URGENT | ALL_OR_FAIL) >>> 0,
        data: data('payload'),
      });
      assert.deepEqual(
        plain(c.stamp(m)),
        plain({
          ...m,
          id: { networkId: N, serialNum: 0xfffffffe },
          origFrom: { networkId: N, localId: 0x12345678 },
        }),
      );
    });

    test('a set id and a set orig_from are kept', () => {
      const c = core(LA);
      const m = makeMessage({
        name: '$.A',
        id: { networkId: 3, serialNum: 1 },
        from: 9,
        origFrom: { networkId: 3, localId: 0 },
      });
      assert.deepEqual(plain(c.stamp(m)), plain(m));
    });

    test('orig_from with network id 0 but a local id is replaced whole', () => {
      const c = core(LA);
      const m = makeMessage({
        name: '$.A',
        id: { networkId: 0, serialNum: 1 },
        from: 9,
        origFrom: { networkId: 0, localId: 4 },
      });
      assert.deepEqual(c.stamp(m).origFrom, { networkId: N, localId: 9 });
    });
  });
});

/** A pending request on LA: S (3) sent {0,21}; LA forwarded it as {1,21}. */
function withPending(c = core(LA), serial = 21, from = 3) {
  forwarded(
    c.fromBus(
      makeMessage({
        name: '$.Q',
        id: { networkId: 0, serialNum: serial },
        from,
        flags: WANT_A_REPLY | WYTR,
      }),
    ),
  );
  return c;
}

describe('5.2 link -> bus', () => {
  describe('rule 2: replies', () => {
    test('a reply to a pending request: in_reply_to, to and id rewritten; the rest kept', () => {
      const c = withPending();
      const reply = makeMessage({
        name: '$.Q',
        id: { networkId: P, serialNum: 30 },
        inReplyTo: { networkId: N, serialNum: 21 },
        to: 7,
        from: 4,
        origFrom: { networkId: P, localId: 4 },
        finalTo: { networkId: 6, localId: 2 },
        extra: 99,
        flags: (USER | URGENT) >>> 0,
        data: data('pong'),
      });
      const m = c.replyFromLink(reply);
      assert.ok(m);
      assert.deepEqual(
        plain(m),
        plain({
          ...reply,
          id: { networkId: 0, serialNum: 0 },
          inReplyTo: { networkId: 0, serialNum: 21 },
          to: 3,
        }),
      );
      assert.equal(c.pendingCount, 0);
    });

    test('the entry is removed: a second reply is dropped', () => {
      const c = withPending();
      const reply = makeMessage({
        name: '$.Q',
        id: { networkId: P, serialNum: 30 },
        inReplyTo: { networkId: N, serialNum: 21 },
        to: 7,
        from: 4,
      });
      assert.ok(c.replyFromLink(reply));
      assert.equal(c.replyFromLink({ ...reply, id: { networkId: P, serialNum: 31 } }), undefined);
    });

    test('a reply to nothing pending is dropped', () => {
      const c = withPending();
      const base = { name: '$.Q', id: { networkId: P, serialNum: 30 }, to: 7, from: 4 };
      assert.equal(
        c.replyFromLink(makeMessage({ ...base, inReplyTo: { networkId: N, serialNum: 22 } })),
        undefined,
      );
      // Keyed by the stamped link id, not the bus id.
      assert.equal(
        c.replyFromLink(makeMessage({ ...base, inReplyTo: { networkId: 0, serialNum: 21 } })),
        undefined,
      );
      assert.equal(
        c.replyFromLink(makeMessage({ ...base, inReplyTo: { networkId: P, serialNum: 21 } })),
        undefined,
      );
      assert.equal(c.pendingCount, 1);
    });

    test('several pending requests are answered independently, in any order', () => {
      const c = core(LA);
      withPending(c, 21, 3);
      withPending(c, 22, 8);
      withPending(c, 23, 3);
      const reply = (serial: number) =>
        makeMessage({
          name: '$.Q',
          id: { networkId: P, serialNum: 100 + serial },
          inReplyTo: { networkId: N, serialNum: serial },
          to: 7,
          from: 4,
        });
      const b = c.replyFromLink(reply(22));
      assert.deepEqual([b?.inReplyTo, b?.to], [{ networkId: 0, serialNum: 22 }, 8]);
      const a = c.replyFromLink(reply(21));
      assert.deepEqual([a?.inReplyTo, a?.to], [{ networkId: 0, serialNum: 21 }, 3]);
      assert.equal(c.pendingCount, 1);
    });

    test('ALL_OR_WAIT is cleared; every other bit is kept (5.3)', () => {
      const c = withPending();
      const m = c.replyFromLink(
        makeMessage({
          name: '$.Q',
          id: { networkId: P, serialNum: 30 },
          inReplyTo: { networkId: N, serialNum: 21 },
          to: 7,
          from: 4,
          flags: (USER | ALL_OR_WAIT | URGENT | SYNTHETIC) >>> 0,
        }),
      );
      assert.equal(m?.flags, (USER | URGENT | SYNTHETIC) >>> 0);
    });
  });

  describe('rule 3: requests', () => {
    // The Limpet under test is LB: N = 2, P = 1, K = 7.
    const LB = { networkId: 2, peerId: 1, ksockId: 7 };
    const request = (init: Partial<MessageInit> = {}) =>
      makeMessage({
        name: '$.Q',
        id: { networkId: 1, serialNum: 23 },
        from: 3,
        origFrom: { networkId: 1, localId: 3 },
        flags: WANT_A_REPLY | WYTR,
        data: data('ping'),
        ...init,
      });
    /** The reply a Limpet generates (5.5): to = the request's from as received. */
    const generated = (name: string, from = 3): Row => ({
      id: [0, 0],
      inReplyTo: [1, 23],
      to: from,
      from: 0,
      origFrom: [2, 0],
      finalTo: [0, 0],
      flags: 0,
      name,
    });

    test('3.1: WYTR clear is dropped', () => {
      const d = core(LB).requestFromLink(request({ flags: WANT_A_REPLY }), 4);
      assert.equal(d.kind, 'drop');
      assert.equal(
        core(LB).requestFromLink(
          request({ flags: WANT_A_REPLY, to: 7, finalTo: { networkId: 2, localId: 4 } }),
          0,
        ).kind,
        'drop',
      );
    });

    test('not stateful, r = another Ksock: injected unchanged', () => {
      const m = request({ flags: (WANT_A_REPLY | WYTR | USER | URGENT | ALL_OR_FAIL) >>> 0 });
      const d = core(LB).requestFromLink(m, 4);
      assert.equal(d.kind, 'inject');
      assert.deepEqual(plain((d as { message: Message }).message), plain(m));
    });

    test('not stateful, r = 0: injected (the daemon decides; a wildcard replier may take it)', () => {
      const d = core(LB).requestFromLink(request(), 0);
      assert.equal(d.kind, 'inject');
      assert.deepEqual(plain((d as { message: Message }).message), plain(request()));
    });

    test('not stateful, r = K: $.KBUS.RemoteError.99 without injecting', () => {
      const d = core(LB).requestFromLink(request({ from: 11 }), 7);
      assert.equal(d.kind, 'answer');
      assertRow(
        (d as { message: Message }).message,
        generated('$.KBUS.RemoteError.99', 11),
        'RemoteError.99',
      );
    });

    test('a failed injection is answered with $.KBUS.RemoteError.<errno>', () => {
      const c = core(LB);
      for (const errno of [99, 16, 32, 37]) {
        assertRow(
          c.remoteError(request(), errno),
          generated(`$.KBUS.RemoteError.${errno}`),
          `errno ${errno}`,
        );
      }
    });

    test('ALL_OR_WAIT is cleared on injection; other bits kept (5.3)', () => {
      const d = core(LB).requestFromLink(
        request({ flags: (WANT_A_REPLY | WYTR | ALL_OR_WAIT | USER) >>> 0 }),
        4,
      );
      assert.equal((d as { message: Message }).message.flags, (WANT_A_REPLY | WYTR | USER) >>> 0);
      const s = core(LB).requestFromLink(
        request({
          to: 9,
          finalTo: { networkId: 2, localId: 4 },
          flags: WANT_A_REPLY | WYTR | ALL_OR_WAIT,
        }),
        4,
      );
      assert.equal((s as { message: Message }).message.flags, WANT_A_REPLY | WYTR);
    });

    describe('stateful, local (final_to.network_id = N)', () => {
      const local = (init: Partial<MessageInit> = {}) =>
        request({ to: 5, finalTo: { networkId: 2, localId: 4 }, ...init });

      test('r = final_to.local_id: to = r, final_to.network_id = 0', () => {
        const d = core(LB).requestFromLink(local(), 4);
        assert.equal(d.kind, 'inject');
        assert.deepEqual(
          plain((d as { message: Message }).message),
          plain({ ...local(), to: 4, finalTo: { networkId: 0, localId: 4 } }),
        );
      });

      test('r = 0: GoneAway', () => {
        const d = core(LB).requestFromLink(local(), 0);
        assert.equal(d.kind, 'answer');
        assertRow((d as { message: Message }).message, generated(GONE_AWAY), 'GoneAway');
      });

      test('r = K: GoneAway', () => {
        const d = core(LB).requestFromLink(local(), 7);
        assert.equal(d.kind, 'answer');
        assertRow((d as { message: Message }).message, generated(GONE_AWAY), 'GoneAway');
      });

      test('r another Ksock: NotSameKsock', () => {
        const d = core(LB).requestFromLink(local({ from: 12 }), 6);
        assert.equal(d.kind, 'answer');
        assertRow((d as { message: Message }).message, generated(NOT_SAME, 12), 'NotSameKsock');
      });
    });

    describe('stateful, passing through (final_to.network_id != N)', () => {
      const through = (init: Partial<MessageInit> = {}) =>
        request({ to: 5, finalTo: { networkId: 4, localId: 9 }, ...init });

      test('r = the next Limpet: to = r, final_to unchanged', () => {
        const d = core(LB).requestFromLink(through(), 8);
        assert.equal(d.kind, 'inject');
        assert.deepEqual(
          plain((d as { message: Message }).message),
          plain({ ...through(), to: 8 }),
        );
      });

      test('r = 0 or K: GoneAway', () => {
        for (const r of [0, 7]) {
          const d = core(LB).requestFromLink(through(), r);
          assert.equal(d.kind, 'answer');
          assertRow((d as { message: Message }).message, generated(GONE_AWAY), `r = ${r}`);
        }
      });

      test('final_to.local_id is not checked when passing through', () => {
        const d = core(LB).requestFromLink(through(), 9 + 1);
        assert.equal(d.kind, 'inject');
      });
    });

    test('generated messages carry orig_from {N,0} and no data', () => {
      const d = core(LB).requestFromLink(
        request({ to: 5, finalTo: { networkId: 2, localId: 4 }, extra: 8 }),
        0,
      );
      const m = (d as { message: Message }).message;
      assert.deepEqual(m.origFrom, { networkId: 2, localId: 0 });
      assert.equal(m.data.length, 0);
      assert.equal(m.extra, 0);
    });
  });

  test('rule 4: anything else is injected with ALL_OR_WAIT cleared, the rest unchanged', () => {
    const c = core(LA);
    const a = makeMessage({
      name: '$.A',
      id: { networkId: P, serialNum: 12 },
      from: 8,
      origFrom: { networkId: P, localId: 8 },
      finalTo: { networkId: 3, localId: 1 },
      extra: 4,
      flags: (USER | URGENT | ALL_OR_WAIT) >>> 0,
      data: data('x'),
    });
    assert.deepEqual(plain(c.otherFromLink(a)), plain({ ...a, flags: (USER | URGENT) >>> 0 }));
    const f = { ...a, flags: (USER | ALL_OR_FAIL) >>> 0 };
    assert.deepEqual(plain(c.otherFromLink(f)), plain(f));
  });
});

describe('section 7: two buses, as LA (1, Ksock 5) and LB (2, Ksock 7) decide', () => {
  const la = () => new LimpetCore({ networkId: 1, peerId: 2, ksockId: 5 }, undefined);
  const lb = () => new LimpetCore({ networkId: 2, peerId: 1, ksockId: 7 }, undefined);

  test("proxy: LB forwards R's bind event as {2,s}, orig_from {2,0}; LA drops its own", () => {
    const event = makeMessage({
      name: BIND_EVENT,
      id: { networkId: 0, serialNum: 11 },
      flags: SYNTHETIC,
      data: encodeReplierBindEvent({ isBind: true, binder: 4, name: '$.Q' }),
    });
    assert.equal(event.data.length, 16);
    const m = forwarded(lb().fromBus(event));
    assert.deepEqual(m.id, { networkId: 2, serialNum: 11 });
    assert.deepEqual(m.origFrom, { networkId: 2, localId: 0 });
    assert.deepEqual(m.data, event.data);
    dropped(
      la().fromBus({
        ...event,
        data: encodeReplierBindEvent({ isBind: true, binder: 5, name: '$.Q' }),
      }),
    );
  });

  const rows = {
    2: {
      id: [0, 21],
      inReplyTo: [0, 0],
      to: 0,
      from: 3,
      origFrom: [0, 0],
      finalTo: [0, 0],
      flags: 0x3,
    },
    3: {
      id: [1, 21],
      inReplyTo: [0, 0],
      to: 0,
      from: 3,
      origFrom: [1, 3],
      finalTo: [0, 0],
      flags: 0x3,
    },
    4: {
      id: [1, 21],
      inReplyTo: [0, 0],
      to: 0,
      from: 7,
      origFrom: [1, 3],
      finalTo: [0, 0],
      flags: 0x3,
    },
    6: {
      id: [0, 30],
      inReplyTo: [1, 21],
      to: 7,
      from: 4,
      origFrom: [0, 0],
      finalTo: [0, 0],
      flags: 0x0,
    },
    7: {
      id: [2, 30],
      inReplyTo: [1, 21],
      to: 7,
      from: 4,
      origFrom: [2, 4],
      finalTo: [0, 0],
      flags: 0x0,
    },
    8: {
      id: [0, 0],
      inReplyTo: [0, 21],
      to: 3,
      from: 4,
      origFrom: [2, 4],
      finalTo: [0, 0],
      flags: 0x0,
    },
    9: {
      id: [0, 22],
      inReplyTo: [0, 21],
      to: 3,
      from: 5,
      origFrom: [2, 4],
      finalTo: [0, 0],
      flags: 0x0,
    },
    11: {
      id: [0, 23],
      inReplyTo: [0, 0],
      to: 5,
      from: 3,
      origFrom: [0, 0],
      finalTo: [2, 4],
      flags: 0x3,
    },
    12: {
      id: [1, 23],
      inReplyTo: [0, 0],
      to: 5,
      from: 3,
      origFrom: [1, 3],
      finalTo: [2, 4],
      flags: 0x3,
    },
    13: {
      id: [1, 23],
      inReplyTo: [0, 0],
      to: 4,
      from: 3,
      origFrom: [1, 3],
      finalTo: [0, 4],
      flags: 0x3,
    },
    "13'": {
      id: [0, 0],
      inReplyTo: [1, 23],
      to: 3,
      from: 0,
      origFrom: [2, 0],
      finalTo: [0, 0],
      flags: 0,
      name: NOT_SAME,
    },
  } satisfies Record<string, Row>;

  test('rows 2-9: request and reply', () => {
    const A = la();
    const B = lb();
    // Row 2 -> row 3: LA stamps and forwards; pending[{1,21}] = ({0,21}, 3).
    const r3 = forwarded(A.fromBus(row(rows[2], '$.Q', 'ping')));
    assertRow(r3, rows[3], 'row 3', '$.Q', 'ping');
    assert.equal(A.pendingCount, 1);
    // LB injects row 3 as it is (R = 4 is B's replier); the daemon makes row 4.
    const inject = B.requestFromLink(r3, 4);
    assert.equal(inject.kind, 'inject');
    assertRow((inject as { message: Message }).message, rows[3], 'LB injects row 3', '$.Q', 'ping');
    // LB's listener copy of its own injection (flags 0x1) is dropped.
    dropped(B.fromBus(row({ ...rows[4], flags: 0x1 }, '$.Q', 'ping')));
    // Row 6 -> row 7: LB stamps the reply addressed to it.
    const r7 = forwarded(B.fromBus(row(rows[6], '$.Q', 'pong')));
    assertRow(r7, rows[7], 'row 7', '$.Q', 'pong');
    // Row 7 -> row 8: LA relays it; the entry goes.
    assertRow(A.replyFromLink(r7), rows[8], 'row 8', '$.Q', 'pong');
    assert.equal(A.pendingCount, 0);
    // Row 9: LA's copy of its own reply (to 3 != 5) is dropped.
    dropped(A.fromBus(row(rows[9], '$.Q', 'pong')));
    // A $.Q listener on A saw row 2 with flags 0x1; LA's copy of it, if any, is dropped too.
    dropped(A.fromBus(row({ ...rows[2], flags: 0x1 }, '$.Q', 'ping')));
  });

  test("rows 10-14: a stateful request; 13': R replaced by R2 (6); or no replier", () => {
    const A = la();
    const r12 = forwarded(A.fromBus(row(rows[11])));
    assertRow(r12, rows[12], 'row 12');
    // Row 13: final_to names B: local; REPLIER($.Q) = 4 = final_to.local_id.
    const d13 = lb().requestFromLink(r12, 4);
    assert.equal(d13.kind, 'inject');
    assertRow((d13 as { message: Message }).message, rows[13], 'row 13');
    // Row 13': R2 (6) replies to $.Q now.
    const d13b = lb().requestFromLink(r12, 6);
    assert.equal(d13b.kind, 'answer');
    assertRow((d13b as { message: Message }).message, rows["13'"], "row 13'");
    // Row 14': LA relays it: in_reply_to {0,23}, to 3.
    const r14 = A.replyFromLink((d13b as { message: Message }).message);
    assertRow(r14, { ...rows["13'"], inReplyTo: [0, 23], to: 3 }, "row 14' as injected");
    // No replier at all on B: GoneAway, the same way.
    const gone = lb().requestFromLink(r12, 0);
    assertRow(
      (gone as { message: Message }).message,
      { ...rows["13'"], name: GONE_AWAY },
      'GoneAway',
    );
  });
});

describe('section 8: three buses A - B - C, LA (1) - LB (2), LC (3) - LD (4)', () => {
  // Ksock ids: on A, S = 3 and LA = 5; on B, LB = 7 and LC = 8; on C, LD = 9, R = 4, R2 = 6.
  const S = 3;
  const R = 4;
  const LA = new LimpetCore({ networkId: 1, peerId: 2, ksockId: 5 }, undefined);
  const LB = new LimpetCore({ networkId: 2, peerId: 1, ksockId: 7 }, undefined);
  const LC = new LimpetCore({ networkId: 3, peerId: 4, ksockId: 8 }, undefined);
  const LD = new LimpetCore({ networkId: 4, peerId: 3, ksockId: 9 }, undefined);

  test("proxies: R's bind on C crosses to B (LD), and B's event (binder LC) to A (LB)", () => {
    const onC = bindEvent(true, R, '$.Q', { id: { networkId: 0, serialNum: 1 } });
    const linkDC = forwarded(LD.fromBus(onC));
    assert.deepEqual(
      [linkDC.id, linkDC.origFrom],
      [
        { networkId: 4, serialNum: 1 },
        { networkId: 4, localId: 0 },
      ],
    );
    const onB = bindEvent(true, 8, '$.Q', { id: { networkId: 0, serialNum: 2 } });
    dropped(LC.fromBus(onB)); // LC's own proxy bind
    const linkBA = forwarded(LB.fromBus(onB));
    assert.deepEqual(linkBA.id, { networkId: 2, serialNum: 2 });
    dropped(LA.fromBus(bindEvent(true, 5, '$.Q'))); // LA's own proxy bind on A
  });

  test('request and reply along the chain', () => {
    // On A: S sends {0,50}; LA reads it as the proxy.
    const onA = makeMessage({
      name: '$.Q',
      id: { networkId: 0, serialNum: 50 },
      from: S,
      flags: 0x3,
    });
    const linkAB = forwarded(LA.fromBus(onA));
    assert.deepEqual(
      [linkAB.id, linkAB.origFrom],
      [
        { networkId: 1, serialNum: 50 },
        { networkId: 1, localId: S },
      ],
    );
    // LB injects on B (B's replier is LC).
    const injB = LB.requestFromLink(linkAB, 8);
    assert.equal(injB.kind, 'inject');
    // On B: LC gets it with WYTR, from LB; LB's listener copy is dropped.
    const onB = { ...(injB as { message: Message }).message, from: 7, flags: 0x3 };
    dropped(LB.fromBus({ ...onB, flags: 0x1 }));
    const linkCD = forwarded(LC.fromBus(onB));
    assert.deepEqual(
      [linkCD.id, linkCD.origFrom, linkCD.from],
      [{ networkId: 1, serialNum: 50 }, { networkId: 1, localId: S }, 7],
    );
    // LD injects on C; R sees from = LD.
    const injC = LD.requestFromLink(linkCD, R);
    assert.equal(injC.kind, 'inject');
    assert.deepEqual((injC as { message: Message }).message.id, { networkId: 1, serialNum: 50 });

    // R replies: {0,60}, in_reply_to {1,50}, to LD.
    const replyC = makeMessage({
      name: '$.Q',
      id: { networkId: 0, serialNum: 60 },
      inReplyTo: { networkId: 1, serialNum: 50 },
      to: 9,
      from: R,
      data: data('pong'),
    });
    const linkDCr = forwarded(LD.fromBus(replyC));
    assert.deepEqual(
      [linkDCr.id, linkDCr.origFrom],
      [
        { networkId: 4, serialNum: 60 },
        { networkId: 4, localId: R },
      ],
    );
    // LC injects it on B: to LB, in_reply_to {1,50}.
    const onBr = LC.replyFromLink(linkDCr);
    assert.deepEqual(
      [onBr?.to, onBr?.inReplyTo, onBr?.origFrom],
      [7, { networkId: 1, serialNum: 50 }, { networkId: 4, localId: R }],
    );
    // On B the daemon numbers it {0,70}, from LC; LC's own copy is not to it.
    const readB = { ...onBr!, id: { networkId: 0, serialNum: 70 }, from: 8 };
    dropped(LC.fromBus(readB));
    // LB (the addressee) stamps {2,70}, keeping orig_from.
    const linkBAr = forwarded(LB.fromBus(readB));
    assert.deepEqual(
      [linkBAr.id, linkBAr.origFrom],
      [
        { networkId: 2, serialNum: 70 },
        { networkId: 4, localId: R },
      ],
    );
    // LA injects it on A: to S, in_reply_to {0,50}.
    const onAr = LA.replyFromLink(linkBAr);
    assert.deepEqual(
      [onAr?.to, onAr?.inReplyTo, onAr?.origFrom, onAr?.id],
      [
        S,
        { networkId: 0, serialNum: 50 },
        { networkId: 4, localId: R },
        { networkId: 0, serialNum: 0 },
      ],
    );
    assert.equal(Buffer.from(onAr!.data).toString(), 'pong');
  });

  test('a stateful request (to LA, final_to {4,R}); and NotSameKsock when R was replaced', () => {
    const onA = makeMessage({
      name: '$.Q',
      id: { networkId: 0, serialNum: 51 },
      to: 5,
      from: S,
      finalTo: { networkId: 4, localId: R },
      flags: 0x3,
    });
    const linkAB = forwarded(LA.fromBus(onA));
    // LB: 4 != 2, passing through: to = B's replier LC, final_to unchanged.
    const injB = LB.requestFromLink(linkAB, 8);
    const mB = (injB as { message: Message }).message;
    assert.deepEqual([injB.kind, mB.to, mB.finalTo], ['inject', 8, { networkId: 4, localId: R }]);
    const linkCD = forwarded(LC.fromBus({ ...mB, from: 7 }));
    // LD: local: final_to {0,R}; the replier is R: to = R.
    const injC = LD.requestFromLink(linkCD, R);
    const mC = (injC as { message: Message }).message;
    assert.deepEqual([injC.kind, mC.to, mC.finalTo], ['inject', R, { networkId: 0, localId: R }]);

    // R replaced by R2 (6): LD answers NotSameKsock, to LB (7), orig_from {4,0}.
    const LD2 = new LimpetCore({ networkId: 4, peerId: 3, ksockId: 9 }, undefined);
    const answer = LD2.requestFromLink(linkCD, 6);
    assert.equal(answer.kind, 'answer');
    const ns = (answer as { message: Message }).message;
    assertRow(
      ns,
      {
        id: [0, 0],
        inReplyTo: [1, 51],
        to: 7,
        from: 0,
        origFrom: [4, 0],
        finalTo: [0, 0],
        flags: 0,
        name: NOT_SAME,
      },
      'NotSameKsock from LD',
    );
    // LC relays it on B to LB; LB forwards it to LA; LA gives it to S with orig_from {4,0}.
    const onB = LC.replyFromLink(ns);
    assert.deepEqual([onB?.to, onB?.inReplyTo], [7, { networkId: 1, serialNum: 51 }]);
    const linkBA = forwarded(LB.fromBus({ ...onB!, id: { networkId: 0, serialNum: 71 }, from: 8 }));
    assert.deepEqual(linkBA.origFrom, { networkId: 4, localId: 0 });
    const onAr = LA.replyFromLink(linkBA);
    assert.deepEqual(
      [onAr?.name, onAr?.to, onAr?.inReplyTo, onAr?.origFrom],
      [NOT_SAME, S, { networkId: 0, serialNum: 51 }, { networkId: 4, localId: 0 }],
    );
  });

  test('an announcement from A is seen once on each bus; no Limpet sends it back', () => {
    const onA = makeMessage({ name: '$.A', id: { networkId: 0, serialNum: 52 }, from: S });
    const linkAB = forwarded(LA.fromBus(onA));
    assert.deepEqual(linkAB.id, { networkId: 1, serialNum: 52 });
    const onB = { ...LB.otherFromLink(linkAB), from: 7 };
    dropped(LB.fromBus(onB)); // LB's own injection
    const linkCD = forwarded(LC.fromBus(onB)); // LC forwards LB's injection once
    assert.deepEqual(
      [linkCD.id, linkCD.origFrom],
      [
        { networkId: 1, serialNum: 52 },
        { networkId: 1, localId: S },
      ],
    );
    const onC = { ...LD.otherFromLink(linkCD), from: 9 };
    // LD drops its own injection (the original forwarded it: id network 1 is neither 4 nor 3).
    dropped(LD.fromBus(onC));
  });

  test('an announcement from C reaches A through LD, LC, LB, LA, once', () => {
    const onC = makeMessage({ name: '$.A', id: { networkId: 0, serialNum: 53 }, from: R });
    const linkDC = forwarded(LD.fromBus(onC));
    const onB = { ...LC.otherFromLink(linkDC), from: 8 };
    dropped(LC.fromBus(onB));
    const linkBA = forwarded(LB.fromBus(onB));
    assert.deepEqual(
      [linkBA.id, linkBA.origFrom],
      [
        { networkId: 4, serialNum: 53 },
        { networkId: 4, localId: R },
      ],
    );
    const onA = { ...LA.otherFromLink(linkBA), from: 5 };
    dropped(LA.fromBus(onA));
  });
});
