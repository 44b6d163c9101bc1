/**
 * Messages given whole (SENDMSG, the daemon's usual send) are queued as
 * their bytes, with KBUS's changes written in, and read back through every
 * reading path exactly as a message given as an object would be
 * (Kbus.txt "Things KBUS changes in a message", "Replier versus
 * listener"; protocol.md SENDMSG, NEXTREAD, NEXTREADS, NEXTMSG / READ /
 * LENLEFT).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  Engine,
  encodeMessage,
  entireMessageLength,
  Flags,
  type EngineKsock as Ksock,
  type Message,
  makeMessage,
  OpenMode,
} from './api.js';
import { ascii, drain, next } from './support.js';

const DATA = ascii('whole message data');

/** A sender, a replier for $.Fred, a listener for $.Fred and one for $.*. */
function bus() {
  const engine = new Engine();
  const sender = engine.open(0);
  const replier = engine.open(0);
  replier.bind('$.Fred', true);
  const listener = engine.open(0, OpenMode.READ);
  listener.bind('$.Fred');
  const wildcard = engine.open(0, OpenMode.READ);
  wildcard.bind('$.*');
  return { engine, sender, replier, listener, wildcard };
}

/** SENDMSG of a fresh encoding (the engine keeps and stamps the bytes it is given). */
function sendWhole(sender: Ksock, flags: number, extra = 0): void {
  sender.sendBytes(
    encodeMessage(makeMessage({ name: '$.Fred', data: DATA, flags, extra, from: 99 })),
    true,
  );
}

/** What every copy must be, apart from its own flags. */
function assertStamped(m: Message, sender: Ksock, serialNum: number): void {
  assert.equal(m.name, '$.Fred');
  assert.deepEqual([...m.data], [...DATA]);
  assert.equal(m.from, sender.id, 'KBUS sets from');
  assert.equal(m.extra, 0, 'KBUS clears extra');
  assert.deepEqual({ ...m.id }, { networkId: 0, serialNum });
}

describe('whole messages in queues', () => {
  test('each recipient reads its own copy: only the replier sees WANT_YOU_TO_REPLY', () => {
    const { sender, replier, listener, wildcard } = bus();
    sendWhole(sender, Flags.WANT_A_REPLY, 7);
    const serial = sender.lastSent().serialNum;
    const asReplier = next(replier);
    const asListener = next(listener);
    const asWildcard = next(wildcard);
    for (const m of [asReplier, asListener, asWildcard]) assertStamped(m, sender, serial);
    assert.equal(asReplier.flags, Flags.WANT_A_REPLY | Flags.WANT_YOU_TO_REPLY);
    assert.equal(asListener.flags, Flags.WANT_A_REPLY);
    assert.equal(asWildcard.flags, Flags.WANT_A_REPLY);
    // Reading the replier's copy left the others' flags alone.
    assert.equal(replier.unrepliedTo(), 1);
  });

  test('READ gives the entire message with the copy its flags; LENLEFT counts down', () => {
    const { sender, replier, listener } = bus();
    sendWhole(sender, Flags.WANT_A_REPLY);
    const id = sender.lastSent();
    const length = entireMessageLength('$.Fred'.length, DATA.length);
    for (const [ksock, flags] of [
      [replier, Flags.WANT_A_REPLY | Flags.WANT_YOU_TO_REPLY],
      [listener, Flags.WANT_A_REPLY],
    ] as const) {
      assert.equal(ksock.nextMsg(), length);
      assert.equal(ksock.lenLeft(), length);
      const head = ksock.read(10);
      assert.equal(ksock.lenLeft(), length - 10);
      const rest = ksock.read(length);
      assert.equal(ksock.lenLeft(), 0);
      const expected = encodeMessage(
        makeMessage({ id, from: sender.id, name: '$.Fred', data: DATA, flags }),
      );
      assert.deepEqual([...head, ...rest], [...expected]);
    }
  });

  test('NEXTREADS counts whole messages by their encoded length', () => {
    const { sender, listener } = bus();
    for (let i = 0; i < 3; i++) sendWhole(sender, 0);
    const length = entireMessageLength('$.Fred'.length, DATA.length);
    const two = listener.nextMessages(10, 2 * length);
    assert.equal(two.length, 2);
    const rest = listener.nextMessages(10, 1);
    assert.equal(rest.length, 1, 'one message is always given, whatever maxBytes');
    assert.deepEqual(
      [...two, ...rest].map((m) => m.id.serialNum),
      [1, 2, 3],
    );
  });

  test('unbinding forgets the queued whole messages that binding brought', () => {
    const { sender, listener, wildcard } = bus();
    for (let i = 0; i < 4; i++) sendWhole(sender, 0);
    assert.equal(wildcard.numMessages(), 4);
    wildcard.unbind('$.*');
    assert.equal(wildcard.numMessages(), 0);
    assert.equal(drain(listener).length, 4, 'the other listener keeps its copies');
  });

  test('a whole message reads the same as the same message given as an object', () => {
    const { sender, listener } = bus();
    sendWhole(sender, Flags.URGENT);
    sender.sendMessage({ name: '$.Fred', data: DATA, flags: Flags.URGENT, extra: 5 });
    // URGENT puts each at the front: the object's copy first.
    const [asObject, asWhole] = drain(listener);
    assert.ok(asObject && asWhole);
    const fields = (m: Message) => ({
      name: m.name,
      data: [...m.data],
      flags: m.flags,
      from: m.from,
      extra: m.extra,
      to: m.to,
      inReplyTo: { ...m.inReplyTo },
      origFrom: { ...m.origFrom },
      finalTo: { ...m.finalTo },
    });
    assert.deepEqual(fields(asWhole), fields(asObject));
    assert.equal(asWhole.id.serialNum + 1, asObject.id.serialNum);
  });
});
