/**
 * EngineKsock.takeNow: a listener's copy handed over the moment it is sent
 * (as kbusd does for a connection with STREAM credit) is exactly what
 * queueing it and reading it at once would give: the same messages with the
 * same flags, in the same order, MSGONLYONCE kept, the same counters. Only
 * listener copies are handed over; replies and a replier's copy of a
 * request are queued, and so is everything while anything is queued or set
 * aside ahead of it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Engine, type EngineKsock, Flags, type Message } from './api.js';
import { next, sendReply, sendRequest } from './support.js';

/** What a recipient got: the fields that matter here, with this copy's flags. */
function got(message: Message, flags = message.flags) {
  return { name: message.name, serial: message.id.serialNum, from: message.from, flags };
}

type Got = ReturnType<typeof got>;

/**
 * Runs `scenario` twice, on fresh engines: once with `listener` taking
 * listener copies as they are sent, once with them queued and read (NEXTREAD)
 * after every step. Both runs must give the listener the same messages and
 * leave the same counters.
 */
function sameEitherWay(
  scenario: (k: { sender: EngineKsock; listener: EngineKsock; step: () => void }) => void,
) {
  const run = (direct: boolean) => {
    const engine = new Engine();
    const sender = engine.open(0);
    const listener = engine.open(0);
    const received: Got[] = [];
    let offered = 0;
    if (direct) {
      listener.takeNow = (message, flags) => {
        offered++;
        received.push(got(message, flags));
        return true;
      };
    }
    const step = () => {
      for (let m = listener.nextMessage(); m !== undefined; m = listener.nextMessage()) {
        received.push(got(m));
      }
    };
    scenario({ sender, listener, step });
    step();
    const device = engine.metrics().devices[0]!;
    const counters = {
      delivered: device.delivered,
      sent: device.sent,
      received: device.ksocks.map((k) => k.received),
      queued: listener.numMessages(),
    };
    return { received, counters, offered };
  };
  const queued = run(false);
  const direct = run(true);
  assert.deepEqual(direct.received, queued.received);
  assert.deepEqual(direct.counters, queued.counters);
  return direct;
}

describe('takeNow gives what queueing and reading at once gives', () => {
  test('announcements, in order, every one handed over', () => {
    const r = sameEitherWay(({ sender, listener, step }) => {
      listener.bind('$.tn.a');
      for (let i = 0; i < 5; i++) {
        sender.sendMessage({ name: '$.tn.a', flags: i === 2 ? Flags.URGENT : 0 });
        step();
      }
    });
    assert.equal(r.received.length, 5);
    assert.equal(r.offered, 5);
  });

  for (const onlyOnce of [false, true]) {
    test(`two listener bindings for one name, MSGONLYONCE ${onlyOnce ? 'on' : 'off'}`, () => {
      const r = sameEitherWay(({ sender, listener, step }) => {
        listener.msgOnlyOnce(onlyOnce);
        listener.bind('$.tn.b.*');
        listener.bind('$.tn.b.x');
        sender.sendMessage({ name: '$.tn.b.x' });
        step();
        sender.sendMessage({ name: '$.tn.b.x' });
        step();
      });
      assert.equal(r.received.length, onlyOnce ? 2 : 4);
    });
  }

  test("a request: the replier's own copy is queued, its listener copy follows it (or not, once only)", () => {
    for (const onlyOnce of [false, true]) {
      const r = sameEitherWay(({ sender, listener, step }) => {
        listener.msgOnlyOnce(onlyOnce);
        listener.bind('$.tn.req', true);
        listener.bind('$.tn.req');
        sendRequest(sender, '$.tn.req');
        step();
      });
      // The replier's copy says WANT_YOU_TO_REPLY and is queued, never handed
      // over; the listener copy, behind it, is queued too.
      assert.equal(r.offered, 0);
      assert.ok(r.received[0]!.flags & Flags.WANT_YOU_TO_REPLY);
      assert.equal(r.received.length, onlyOnce ? 1 : 2);
    }
  });

  test("a request's listener copy is handed over; its reply is queued, for requester and listener", () => {
    const r = sameEitherWay(({ sender, listener, step }) => {
      listener.bind('$.tn.r');
      // The sender answers its own request here, so that the listener sees both.
      sender.bind('$.tn.r', true);
      sendRequest(sender, '$.tn.r');
      step();
      const request = next(sender);
      sendReply(sender, request);
      step();
    });
    // The request's listener copy went at once; the reply was queued (it is a reply).
    assert.equal(r.offered, 1);
    assert.equal(r.received.length, 2);
    assert.ok(!(r.received[0]!.flags & Flags.WANT_YOU_TO_REPLY));
  });
});

describe('what takeNow does not take', () => {
  test('declined: the message is queued, and what follows queues behind it until it is read', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const listener = engine.open(0);
    listener.bind('$.tn.d');
    let accept = false;
    const taken: number[] = [];
    listener.takeNow = (message) => {
      if (!accept) return false;
      taken.push(message.id.serialNum);
      return true;
    };
    const first = sender.sendMessage({ name: '$.tn.d' });
    accept = true;
    const second = sender.sendMessage({ name: '$.tn.d' });
    // Nothing overtakes the queued message.
    assert.deepEqual(taken, []);
    assert.equal(listener.numMessages(), 2);
    assert.equal(next(listener).id.serialNum, first.serialNum);
    assert.equal(next(listener).id.serialNum, second.serialNum);
    // The queue is empty again: the next one is handed over.
    const third = sender.sendMessage({ name: '$.tn.d' });
    assert.deepEqual(taken, [third.serialNum]);
    assert.equal(listener.numMessages(), 0);
  });

  test('a READ in progress ends when a message is handed over, as it does when one is read', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const listener = engine.open(0);
    listener.bind('$.tn.read');
    sender.sendMessage({ name: '$.tn.read' });
    assert.ok(listener.nextMsg() > 0);
    listener.read(10);
    assert.ok(listener.lenLeft() > 0);
    listener.takeNow = () => true;
    sender.sendMessage({ name: '$.tn.read' });
    assert.equal(listener.lenLeft(), 0);
  });

  test('while an unbind event is set aside for the Ksock, its copies are queued, so that reading brings the event in', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const replier = engine.open(0);
    const full = engine.open(0);
    const listener = engine.open(0);
    for (const k of [full, listener]) k.bind('$.KBUS.ReplierBindEvent');
    listener.bind('$.tn.u');
    full.reportReplierBinds(true);
    replier.bind('$.tn.svc', true);
    // One listener of bind events is full when the replier goes: its unbind
    // event, which must not be lost, is set aside for every listener,
    // including this one with nothing queued.
    full.setMaxMessages(1);
    assert.equal(listener.nextMessage()?.name, '$.KBUS.ReplierBindEvent');
    replier.close();
    assert.equal(listener.numMessages(), 1, 'one event set aside');
    const taken: number[] = [];
    listener.takeNow = (message) => {
      taken.push(message.id.serialNum);
      return true;
    };
    const queued = sender.sendMessage({ name: '$.tn.u' });
    assert.deepEqual(taken, []);
    assert.equal(listener.numMessages(), 2);
    // Reading takes the copy, then the event it brings in (Device.pop).
    assert.equal(next(listener).id.serialNum, queued.serialNum);
    assert.equal(next(listener).name, '$.KBUS.ReplierBindEvent');
    assert.equal(listener.numMessages(), 0);
    // Nothing ahead now: the next copy is handed over.
    const direct = sender.sendMessage({ name: '$.tn.u' });
    assert.deepEqual(taken, [direct.serialNum]);
  });
});
