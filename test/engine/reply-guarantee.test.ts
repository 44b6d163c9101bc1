/**
 * The reply guarantee (Kbus.txt "Requests and Replies", "Status
 * message", "Repliers", "Select, write/send and next message").
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  Engine,
  Flags,
  isSameId,
  type EngineKsock as Ksock,
  type Message,
  type MessageId,
  MessageNames,
} from './api.js';
import {
  assertEmpty,
  drain,
  next,
  outstandingRequests,
  sendReply,
  sendRequest,
  throwsCode,
} from './support.js';

function setup(): { engine: Engine; sender: Ksock; replier: Ksock } {
  const engine = new Engine();
  const sender = engine.open();
  const replier = engine.open();
  replier.bind('$.Fred', true);
  return { engine, sender, replier };
}

/**
 * Kbus.txt "Status message" and "Requests and Replies": the status message
 * has in_reply_to = the request's id, from = the intended replier, to = the
 * request's sender, the SYNTHETIC flag, a '$.KBUS.' name and no data.
 */
function assertStatus(
  got: Message,
  name: string,
  request: MessageId,
  replier: Ksock,
  sender: Ksock,
): void {
  assert.equal(got.name, name);
  assert.deepEqual(got.inReplyTo, request);
  assert.equal(got.from, replier.id);
  assert.equal(got.to, sender.id);
  assert.ok(got.flags & Flags.SYNTHETIC, 'status messages are SYNTHETIC');
  assert.equal(got.data.length, 0);
  // "message id: as normal": a fresh local id, after the request's.
  assert.equal(got.id.networkId, 0);
  assert.ok(got.id.serialNum > request.serialNum);
}

describe('status messages in place of a reply', () => {
  // Kbus.txt "Requests and Replies" case 2: "The replier closes itself ...
  // but has not yet read the message. In this case, KBUS issues a
  // '$.KBUS.Replier.GoneAway' message", 'from' the replier.
  test('a replier closing before reading the request gives $.KBUS.Replier.GoneAway', () => {
    const { sender, replier } = setup();
    const id = sendRequest(sender, '$.Fred');
    replier.close();
    const got = drain(sender);
    assert.equal(got.length, 1);
    assertStatus(got[0]!, MessageNames.REPLIER_GONEAWAY, id, replier, sender);
  });

  // Kbus.txt "Requests and Replies" case 3: "has read the message, but has
  // not yet ... replied to it. In this case, KBUS issues a
  // '$.KBUS.Replier.Ignored' message"; "read" is NEXTMSG (Kbus.txt "Select, ...").
  test('a replier closing after NEXTMSG without replying gives $.KBUS.Replier.Ignored', () => {
    const { sender, replier } = setup();
    const id = sendRequest(sender, '$.Fred');
    assert.ok(replier.nextMsg() > 0);
    replier.close();
    const got = drain(sender);
    assert.equal(got.length, 1);
    assertStatus(got[0]!, MessageNames.REPLIER_IGNORED, id, replier, sender);
  });

  // Kbus.txt "Select, write/send ...": "before calling NEXTMSG to pop it" is
  // GoneAway, after it Ignored: a request popped but only partly read counts as read.
  test('a request popped and only partly read counts as read: Ignored, not GoneAway', () => {
    const { sender, replier } = setup();
    const id = sendRequest(sender, '$.Fred');
    replier.nextMsg();
    replier.read(8);
    replier.close();
    const got = drain(sender);
    assert.equal(got.length, 1);
    assertStatus(got[0]!, MessageNames.REPLIER_IGNORED, id, replier, sender);
  });

  // Kbus.txt "Requests and Replies" case 1: "The replier unbinds from that
  // message name before reading the request message from its queue. In this
  // case, KBUS removes the message from the repliers queue, and issues a
  // '$.KBUS.Replier.Unbound' message."
  test('a replier unbinding before reading gives $.KBUS.Replier.Unbound and loses the request', () => {
    const { sender, replier } = setup();
    const id = sendRequest(sender, '$.Fred');
    replier.unbind('$.Fred', true);
    assertEmpty(replier);
    const got = drain(sender);
    assert.equal(got.length, 1);
    assertStatus(got[0]!, MessageNames.REPLIER_UNBOUND, id, replier, sender);
  });

  // Kbus.txt "Repliers": on unbinding, KBUS issues Unbound "for each Request
  // that has not been answered" in the queue, and only those of the binding.
  test('unbinding a replier binding gives Unbound for each of its queued requests only', () => {
    const engine = new Engine();
    const a = engine.open();
    const b = engine.open();
    const replier = engine.open();
    replier.bind('$.Fred', true);
    replier.bind('$.Jim', true);
    replier.bind('$.Fred');
    const a1 = sendRequest(a, '$.Fred');
    const jim = sendRequest(a, '$.Jim');
    const b1 = sendRequest(b, '$.Fred');
    const announcement = b.sendMessage({ name: '$.Fred' });
    replier.unbind('$.Fred', true);
    const statusA = drain(a);
    const statusB = drain(b);
    assert.equal(statusA.length, 1);
    assert.equal(statusB.length, 1);
    assertStatus(statusA[0]!, MessageNames.REPLIER_UNBOUND, a1, replier, a);
    assertStatus(statusB[0]!, MessageNames.REPLIER_UNBOUND, b1, replier, b);
    // Still queued: the '$.Jim' request and the listener copies.
    const left = drain(replier).map((m) => [
      m.id.serialNum,
      (m.flags & Flags.WANT_YOU_TO_REPLY) !== 0,
    ]);
    assert.deepEqual(left, [
      [a1.serialNum, false],
      [jim.serialNum, true],
      [b1.serialNum, false],
      [announcement.serialNum, false],
    ]);
  });

  // Kbus.txt "Repliers": GoneAway for each unread request and Ignored for
  // each read one, each request answered once, each to its own sender.
  test('closing a replier answers each of its requests once: Ignored if read, GoneAway if not', () => {
    const engine = new Engine();
    const a = engine.open();
    const b = engine.open();
    const replier = engine.open();
    replier.bind('$.Fred', true);
    replier.bind('$.Jim.*', true);
    const a1 = sendRequest(a, '$.Fred');
    const b1 = sendRequest(b, '$.Jim.x');
    const a2 = sendRequest(a, '$.Jim.y');
    const b2 = sendRequest(b, '$.Fred');
    next(replier); // a1: read
    next(replier); // b1: read
    replier.close();
    const forA = drain(a);
    const forB = drain(b);
    assert.equal(forA.length, 2);
    assert.equal(forB.length, 2);
    const byRequest = (msgs: Message[], id: MessageId) => {
      const found = msgs.filter((m) => isSameId(m.inReplyTo, id));
      assert.equal(found.length, 1, `one status message for request ${id.serialNum}`);
      return found[0]!;
    };
    assertStatus(byRequest(forA, a1), MessageNames.REPLIER_IGNORED, a1, replier, a);
    assertStatus(byRequest(forA, a2), MessageNames.REPLIER_GONEAWAY, a2, replier, a);
    assertStatus(byRequest(forB, b1), MessageNames.REPLIER_IGNORED, b1, replier, b);
    assertStatus(byRequest(forB, b2), MessageNames.REPLIER_GONEAWAY, b2, replier, b);
  });
});

describe('stateful requests keep the guarantee', () => {
  // protocol.md "Points ... settled": "every request, stateful ones
  // included, gets exactly one reply or status message" (kbus.c skips
  // requests whose 'to' is the replier; the promise of Kbus.txt wins).
  test('a stateful request gets GoneAway when its replier closes before reading it', () => {
    const { sender, replier } = setup();
    const id = sendRequest(sender, '$.Fred', { to: replier.id });
    replier.close();
    const got = drain(sender);
    assert.equal(got.length, 1);
    assertStatus(got[0]!, MessageNames.REPLIER_GONEAWAY, id, replier, sender);
  });

  // protocol.md "Points ... settled" (as above), Kbus.txt case 3.
  test('a stateful request gets Ignored when its replier closes after reading it', () => {
    const { sender, replier } = setup();
    const id = sendRequest(sender, '$.Fred', { to: replier.id });
    next(replier);
    replier.close();
    const got = drain(sender);
    assert.equal(got.length, 1);
    assertStatus(got[0]!, MessageNames.REPLIER_IGNORED, id, replier, sender);
  });

  // protocol.md "Points ... settled" (as above), Kbus.txt case 1.
  test('a stateful request gets Unbound when its replier unbinds before reading it', () => {
    const { sender, replier } = setup();
    const id = sendRequest(sender, '$.Fred', { to: replier.id });
    replier.unbind('$.Fred', true);
    assertEmpty(replier);
    const got = drain(sender);
    assert.equal(got.length, 1);
    assertStatus(got[0]!, MessageNames.REPLIER_UNBOUND, id, replier, sender);
  });
});

describe('exactly one answer per request', () => {
  // Kbus.txt "Requests and Replies": "only one such". After Unbound, the
  // request is no longer expected, so a late reply is refused.
  test('after Unbound, a reply to that request is ECONNREFUSED and nothing more arrives', () => {
    const engine = new Engine();
    const sender = engine.open();
    const both = engine.open();
    both.bind('$.Fred', true);
    both.bind('$.Fred');
    sendRequest(sender, '$.Fred');
    both.unbind('$.Fred', true);
    assert.equal(next(sender).name, MessageNames.REPLIER_UNBOUND);
    // The listener copy still tells the Ksock what the request was.
    const request = next(both);
    throwsCode(() => sendReply(both, request), 'ECONNREFUSED');
    both.close();
    assertEmpty(sender);
  });

  // Kbus.txt "Requests and Replies": one answer only; a replier that unbinds
  // after reading the request still owes it, and closing gives one Ignored.
  test('a replier that read a request, then unbinds and closes, gives one Ignored and no Unbound', () => {
    const { sender, replier } = setup();
    const id = sendRequest(sender, '$.Fred');
    next(replier);
    replier.unbind('$.Fred', true);
    assertEmpty(sender);
    replier.close();
    const got = drain(sender);
    assert.equal(got.length, 1);
    assertStatus(got[0]!, MessageNames.REPLIER_IGNORED, id, replier, sender);
  });

  // Kbus.txt "Requests and Replies": after Unbound has been sent and the
  // request removed from the queue, closing the replier adds nothing.
  test('after Unbound, closing the replier sends no GoneAway for that request', () => {
    const { sender, replier } = setup();
    sendRequest(sender, '$.Fred');
    replier.unbind('$.Fred', true);
    drain(sender);
    replier.close();
    assertEmpty(sender);
  });

  // Kbus.txt "Requests and Replies": "The normal case is when the replier
  // reads the request, and sends its own reply back" - no status message then.
  test('a replier that replied produces no status message when it closes', () => {
    const { sender, replier } = setup();
    const id = sendRequest(sender, '$.Fred');
    const replyId = sendReply(replier, next(replier));
    replier.close();
    const got = drain(sender);
    assert.equal(got.length, 1);
    assert.deepEqual(got[0]!.id, replyId);
    assert.deepEqual(got[0]!.inReplyTo, id);
    assert.equal(got[0]!.flags & Flags.SYNTHETIC, 0);
  });

  // Kbus.txt "Requests and Replies": one status message per request, even
  // when the replier also holds a listener copy of it.
  test('a replier that also listens gives one GoneAway per request when it closes', () => {
    const engine = new Engine();
    const sender = engine.open();
    const both = engine.open();
    both.bind('$.Fred', true);
    both.bind('$.Fred');
    const id = sendRequest(sender, '$.Fred');
    assert.equal(both.numMessages(), 2);
    both.close();
    const got = drain(sender);
    assert.equal(got.length, 1);
    assertStatus(got[0]!, MessageNames.REPLIER_GONEAWAY, id, both, sender);
  });

  // Kbus.txt "Requests and Replies": the status message goes to the sender;
  // if the sender has closed there is nobody to tell, and the replier's
  // close must still succeed.
  test('a replier closing with requests from a sender that has gone closes cleanly', () => {
    const { engine, sender, replier } = setup();
    sendRequest(sender, '$.Fred');
    sendRequest(sender, '$.Fred');
    next(replier);
    sender.close();
    assert.doesNotThrow(() => replier.close());
    const newcomer = engine.open();
    assertEmpty(newcomer);
  });

  // Kbus.txt "Repliers": only the replier's copy owes a reply; a listener
  // closing with an unread copy of a request sends no status message.
  test('a listener closing with an unread copy of a request sends no status message', () => {
    const { engine, sender, replier } = setup();
    const listener = engine.open();
    listener.bind('$.Fred');
    const id = sendRequest(sender, '$.Fred');
    listener.close();
    assertEmpty(sender);
    const replyId = sendReply(replier, next(replier));
    const got = drain(sender);
    assert.equal(got.length, 1);
    assert.deepEqual(got[0]!.id, replyId);
    assert.deepEqual(got[0]!.inReplyTo, id);
  });
});

describe('the reserved reply slot', () => {
  // Kbus.txt "Senders": "A place for that Reply is reserved in the sender's
  // message queue"; "/proc/kbus/stats" reports "outstanding requests N".
  test('sending a request reserves a slot, and the reply releases it', () => {
    const { engine, sender, replier } = setup();
    assert.equal(outstandingRequests(engine, sender), 0);
    sendRequest(sender, '$.Fred');
    sendRequest(sender, '$.Fred');
    assert.equal(outstandingRequests(engine, sender), 2);
    sendReply(replier, next(replier));
    assert.equal(outstandingRequests(engine, sender), 1);
  });

  // Kbus.txt "Senders": the slot is for the Reply "(or possible a Status
  // message from KBUS if the Replier goes away or unbinds ...)".
  test('the status message releases the reserved slot', () => {
    const engine = new Engine();
    const sender = engine.open();
    const r1 = engine.open();
    const r2 = engine.open();
    const r3 = engine.open();
    r1.bind('$.a', true);
    r2.bind('$.b', true);
    r3.bind('$.c', true);
    sendRequest(sender, '$.a');
    sendRequest(sender, '$.b');
    sendRequest(sender, '$.c');
    assert.equal(outstandingRequests(engine, sender), 3);
    r1.close(); // GoneAway
    assert.equal(outstandingRequests(engine, sender), 2);
    next(r2);
    r2.close(); // Ignored
    assert.equal(outstandingRequests(engine, sender), 1);
    r3.unbind('$.c', true); // Unbound
    assert.equal(outstandingRequests(engine, sender), 0);
    assert.equal(drain(sender).length, 3);
  });

  // Kbus.txt "Error numbers", EADDRNOTAVAIL and EPIPE: a request that is not
  // sent reserves nothing.
  test('a request that fails to send reserves no slot', () => {
    const { engine, sender } = setup();
    throwsCode(() => sendRequest(sender, '$.Nobody'), 'EADDRNOTAVAIL');
    throwsCode(() => sendRequest(sender, '$.Fred', { to: 999 }), 'EPIPE');
    assert.equal(outstandingRequests(engine, sender), 0);
  });
});
