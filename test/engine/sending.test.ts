/**
 * What SEND does to a message (Kbus.txt "Message ids", "Things KBUS
 * changes in a message", "Message flags", "Ksocks", LASTSENT).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Engine, Flags, type EngineKsock as Ksock } from './api.js';
import { next, sendRequest, throwsCode } from './support.js';

function listenerAndSender(engine = new Engine()): { listener: Ksock; sender: Ksock } {
  const listener = engine.open();
  const sender = engine.open();
  listener.bind('$.Fred');
  return { listener, sender };
}

describe('message ids', () => {
  // Kbus.txt "Message ids": with network id 0, KBUS assigns serial numbers
  // "one more than the last serial number assigned", so local ids ascend;
  // {0,0} is reserved, and protocol.md: message ids are per device, from 1.
  test('local message ids ascend from {0,1} across all the Ksocks of a device', () => {
    const engine = new Engine();
    const { listener, sender } = listenerAndSender(engine);
    const other = engine.open();
    const ids = [
      sender.sendMessage({ name: '$.Fred' }),
      other.sendMessage({ name: '$.Fred' }),
      sender.sendMessage({ name: '$.Jim' }),
      sender.sendMessage({ name: '$.Fred' }),
    ];
    assert.deepEqual(
      ids.map((id) => [id.networkId, id.serialNum]),
      [
        [0, 1],
        [0, 2],
        [0, 3],
        [0, 4],
      ],
    );
    // Each recipient sees the id SEND returned.
    assert.deepEqual(
      [next(listener).id, next(listener).id, next(listener).id],
      [ids[0], ids[1], ids[3]],
    );
  });

  // Kbus.txt "The KBUS devices": each device is independent; protocol.md:
  // "Message ids ... follow the seed: per device, ascending".
  test('each device numbers its messages independently', () => {
    const engine = new Engine({ devices: 2 });
    const a = engine.open(0);
    const b = engine.open(1);
    assert.deepEqual(a.sendMessage({ name: '$.Fred' }), { networkId: 0, serialNum: 1 });
    assert.deepEqual(a.sendMessage({ name: '$.Fred' }), { networkId: 0, serialNum: 2 });
    assert.deepEqual(b.sendMessage({ name: '$.Fred' }), { networkId: 0, serialNum: 1 });
    const c = engine.open(engine.newDevice());
    assert.deepEqual(c.sendMessage({ name: '$.Fred' }), { networkId: 0, serialNum: 1 });
    assert.deepEqual(a.sendMessage({ name: '$.Fred' }), { networkId: 0, serialNum: 3 });
  });

  // Kbus.txt "Message ids": "If a message is sent via KBUS with a network id
  // of 0, then KBUS itself will assign a new message id" (a serial number
  // given by the sender is replaced).
  test('a serial number given with network id 0 is replaced by the next local one', () => {
    const { listener, sender } = listenerAndSender();
    const id = sender.sendMessage({ name: '$.Fred', id: { networkId: 0, serialNum: 99 } });
    assert.deepEqual(id, { networkId: 0, serialNum: 1 });
    assert.deepEqual(next(listener).id, { networkId: 0, serialNum: 1 });
  });

  // Kbus.txt "Message ids": "If a message is sent via KBUS with a non-zero
  // network id, then KBUS does not touch its message id." (kbus.c kbus_send
  // only takes a serial number when the network id is 0.)
  test('a message with a non-zero network id keeps its id untouched', () => {
    const { listener, sender } = listenerAndSender();
    const given = { networkId: 7, serialNum: 42 };
    assert.deepEqual(sender.sendMessage({ name: '$.Fred', id: given }), given);
    assert.deepEqual(next(listener).id, given);
    assert.deepEqual(sender.lastSent(), given);
    // No local serial number was used up.
    assert.deepEqual(sender.sendMessage({ name: '$.Fred' }), { networkId: 0, serialNum: 1 });
  });
});

describe('Ksock ids', () => {
  // Kbus.txt "Ksocks": every Ksock has an id, "The value 0 is reserved for
  // KBUS itself"; protocol.md: Ksock ids per device, ascending.
  test('Ksock ids ascend from 1 on each device and are not reused', () => {
    const engine = new Engine({ devices: 2 });
    const a = engine.open(0);
    const b = engine.open(0);
    const x = engine.open(1);
    assert.deepEqual([a.id, b.id, x.id], [1, 2, 1]);
    assert.equal(a.ksockId(), 1);
    b.close();
    assert.equal(engine.open(0).id, 3);
    assert.equal(engine.open(1).id, 2);
  });
});

describe('what KBUS changes in a message', () => {
  // Kbus.txt "The message header", from: "When writing a new message, set
  // this to 0, since KBUS will set it"; "Things KBUS changes": the 'from' id.
  test("'from' is set to the sender's Ksock id, whatever the sender put there", () => {
    const { listener, sender } = listenerAndSender();
    sender.sendMessage({ name: '$.Fred', from: 999 });
    sender.sendMessage({ name: '$.Fred' });
    assert.equal(next(listener).from, sender.id);
    assert.equal(next(listener).from, sender.id);
  });

  // Kbus.txt "Things KBUS changes in a message": "KBUS will always set the
  // 'extra' field to zero."
  test("'extra' is zeroed", () => {
    const { listener, sender } = listenerAndSender();
    sender.sendMessage({ name: '$.Fred', extra: 0xdeadbeef });
    assert.equal(next(listener).extra, 0);
  });

  // Kbus.txt "Things KBUS changes": "the SYNTHETIC bit, which will always be
  // unset in a message sent by a Sender".
  test('the SYNTHETIC flag is cleared on a message a user sends', () => {
    const { listener, sender } = listenerAndSender();
    sender.sendMessage({ name: '$.Fred', flags: Flags.SYNTHETIC | Flags.URGENT });
    const got = next(listener);
    assert.equal(got.flags & Flags.SYNTHETIC, 0);
    assert.equal(got.flags, Flags.URGENT);
  });

  // Kbus.txt "Message flags": KBUS "guarantees not to touch the top 16 bits".
  test('the top 16 flag bits reach the listener untouched', () => {
    const { listener, sender } = listenerAndSender();
    for (const top of [0xffff0000, 0xabcd0000, 0x80000000, 0x00010000]) {
      sender.sendMessage({ name: '$.Fred', flags: top });
      assert.equal(next(listener).flags >>> 0, top >>> 0);
    }
  });

  // Kbus.txt "Message flags": the top 16 bits are untouched on requests
  // too, on both the replier's and the listeners' copies.
  test('the top 16 flag bits are untouched on every copy of a request', () => {
    const engine = new Engine();
    const { listener, sender } = listenerAndSender(engine);
    const replier = engine.open();
    replier.bind('$.Fred', true);
    sendRequest(sender, '$.Fred', { flags: 0x12340000 });
    assert.equal(next(replier).flags >>> 16, 0x1234);
    assert.equal(next(listener).flags >>> 16, 0x1234);
  });

  // Kbus.txt "Message flags": WANT_YOU_TO_REPLY is set by KBUS on the copy
  // whose recipient must reply; "Otherwise, KBUS clears it."
  test('WANT_YOU_TO_REPLY set by the sender of an announcement is cleared', () => {
    const { listener, sender } = listenerAndSender();
    sender.sendMessage({ name: '$.Fred', flags: Flags.WANT_YOU_TO_REPLY });
    assert.equal(next(listener).flags & Flags.WANT_YOU_TO_REPLY, 0);
  });

  // Kbus.txt "Request message": "only the copy of the message received by
  // the replier will be marked with the WANT_YOU_TO_REPLY flag", while WANT_A_REPLY
  // is set "wherever it is received".
  test('WANT_YOU_TO_REPLY is set only on the replier copy of a request', () => {
    const engine = new Engine();
    const { listener, sender } = listenerAndSender(engine);
    const replier = engine.open();
    replier.bind('$.Fred', true);
    // Even if the sender sets WANT_YOU_TO_REPLY itself.
    sendRequest(sender, '$.Fred', { flags: Flags.WANT_YOU_TO_REPLY });
    const toReplier = next(replier);
    const toListener = next(listener);
    assert.equal(toReplier.flags, Flags.WANT_A_REPLY | Flags.WANT_YOU_TO_REPLY);
    assert.equal(toListener.flags, Flags.WANT_A_REPLY);
  });

  // Kbus.txt "Things KBUS changes in a message": only the id, 'from', the
  // WANT_YOU_TO_REPLY and SYNTHETIC bits and 'extra'; the rest is passed through.
  test('the other header fields and the data are passed through unchanged', () => {
    const { listener, sender } = listenerAndSender();
    const data = new Uint8Array([0, 1, 2, 250, 251, 252, 253, 254, 255]);
    sender.sendMessage({
      name: '$.Fred',
      data,
      origFrom: { networkId: 3, localId: 4 },
      finalTo: { networkId: 5, localId: 6 },
    });
    const got = next(listener);
    assert.deepEqual(got.data, data);
    assert.deepEqual(got.origFrom, { networkId: 3, localId: 4 });
    assert.deepEqual(got.finalTo, { networkId: 5, localId: 6 });
    assert.equal(got.to, 0);
    assert.deepEqual(got.inReplyTo, { networkId: 0, serialNum: 0 });
  });
});

describe('LASTSENT', () => {
  // Kbus.txt "IOCTLS": LASTSENT "Determine the message id of the last message
  // SENT on this Ksock".
  test('LASTSENT is {0,0} before any send, then the id of the last message sent', () => {
    const engine = new Engine();
    const { sender } = listenerAndSender(engine);
    const other = engine.open();
    assert.deepEqual(sender.lastSent(), { networkId: 0, serialNum: 0 });
    const first = sender.sendMessage({ name: '$.Fred' });
    assert.deepEqual(sender.lastSent(), first);
    other.sendMessage({ name: '$.Fred' });
    // Another Ksock's send does not change it.
    assert.deepEqual(sender.lastSent(), first);
    const second = sender.sendMessage({ name: '$.Jim' });
    assert.deepEqual(sender.lastSent(), second);
  });

  // kbus.c kbus_send records "the message we last (tried to) send" once it
  // has an id; protocol.md: "LASTSENT gives the id that was assigned" for a
  // failed SEND.
  test('a request that fails for want of a replier still takes an id, and LASTSENT shows it', () => {
    const sender = new Engine().open();
    sender.sendMessage({ name: '$.Fred' });
    throwsCode(() => sendRequest(sender, '$.Fred'), 'EADDRNOTAVAIL');
    assert.deepEqual(sender.lastSent(), { networkId: 0, serialNum: 2 });
    assert.deepEqual(sender.sendMessage({ name: '$.Fred' }), { networkId: 0, serialNum: 3 });
  });
});
