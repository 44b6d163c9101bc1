/**
 * Requests and replies (Kbus.txt "Request message", "Reply message",
 * "Repliers", "Stateful transactions", "Error numbers").
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Engine, Flags, type EngineKsock as Ksock } from './api.js';
import { assertEmpty, drain, next, sendReply, sendRequest, throwsCode } from './support.js';

function setup(): { engine: Engine; sender: Ksock; replier: Ksock; listener: Ksock } {
  const engine = new Engine();
  const sender = engine.open();
  const replier = engine.open();
  const listener = engine.open();
  replier.bind('$.Fred', true);
  listener.bind('$.Fred');
  return { engine, sender, replier, listener };
}

describe('sending requests', () => {
  // Kbus.txt "Request message": "When a request message is sent, it is an
  // error if there is no replier bound to that message name"; "Error
  // numbers", EADDRNOTAVAIL.
  test('a request with no replier bound is EADDRNOTAVAIL, and no listener gets it', () => {
    const engine = new Engine();
    const sender = engine.open();
    const listener = engine.open();
    listener.bind('$.Fred');
    listener.bind('$.*');
    throwsCode(() => sendRequest(sender, '$.Fred'), 'EADDRNOTAVAIL');
    assertEmpty(listener);
    assertEmpty(sender);
  });

  // Kbus.txt "Request message": the request is delivered to the replier
  // (marked WANT_YOU_TO_REPLY) and "as normal ... to all listeners".
  test('a request goes to its replier and to every listener of the name', () => {
    const { sender, replier, listener } = setup();
    const id = sendRequest(sender, '$.Fred', { data: new Uint8Array([9]) });
    const r = next(replier);
    const l = next(listener);
    for (const m of [r, l]) {
      assert.deepEqual(m.id, id);
      assert.equal(m.from, sender.id);
      assert.deepEqual(m.data, new Uint8Array([9]));
    }
    assert.ok(r.flags & Flags.WANT_YOU_TO_REPLY);
    assert.equal(l.flags & Flags.WANT_YOU_TO_REPLY, 0);
    assertEmpty(replier);
    assertEmpty(listener);
  });

  // Kbus.txt "Request message": "if a particular file descriptor is bound as
  // listener and replier for '$.Fred', it will receive two copies of the
  // original message (one marked as needing reply from that file descriptor)".
  test('a Ksock bound as listener and replier gets two copies, one marked WANT_YOU_TO_REPLY', () => {
    const engine = new Engine();
    const both = engine.open();
    const sender = engine.open();
    both.bind('$.Fred', true);
    both.bind('$.Fred');
    const id = sendRequest(sender, '$.Fred');
    const copies = drain(both);
    assert.equal(copies.length, 2);
    for (const m of copies) assert.deepEqual(m.id, id);
    assert.equal(copies.filter((m) => m.flags & Flags.WANT_YOU_TO_REPLY).length, 1);
  });
});

describe('stateful requests', () => {
  // Kbus.txt "Request message", to: "it can be set to a specific replier's
  // Ksock id"; "Stateful transactions".
  test("a request 'to' the current replier is delivered to it", () => {
    const { sender, replier } = setup();
    const id = sendRequest(sender, '$.Fred', { to: replier.id });
    const got = next(replier);
    assert.deepEqual(got.id, id);
    assert.equal(got.to, replier.id);
    assert.ok(got.flags & Flags.WANT_YOU_TO_REPLY);
  });

  // Kbus.txt "Stateful transactions": "Sending a request to a particular
  // Ksock will fail if that Ksock is no longer bound as replier"; "Error
  // numbers", EPIPE.
  test("a request 'to' a Ksock that is not the replier is EPIPE, and nobody gets it", () => {
    const { sender, replier, listener } = setup();
    throwsCode(() => sendRequest(sender, '$.Fred', { to: listener.id }), 'EPIPE');
    assertEmpty(replier);
    assertEmpty(listener);
    assertEmpty(sender);
  });

  // Kbus.txt "Stateful transactions": a new replier instance is not the one
  // the sender was talking to.
  test("a request 'to' a replier that has been replaced is EPIPE", () => {
    const { engine, sender, replier } = setup();
    sendRequest(sender, '$.Fred', { to: replier.id });
    const old = replier.id;
    replier.close();
    drain(sender);
    engine.open().bind('$.Fred', true);
    throwsCode(() => sendRequest(sender, '$.Fred', { to: old }), 'EPIPE');
  });

  // protocol.md "Points ... settled": "A stateful request to a name with no
  // replier at all is -EADDRNOTAVAIL".
  test("a request 'to' a Ksock, for a name with no replier at all, is EADDRNOTAVAIL", () => {
    const engine = new Engine();
    const sender = engine.open();
    const listener = engine.open();
    listener.bind('$.Fred');
    throwsCode(() => sendRequest(sender, '$.Fred', { to: listener.id }), 'EADDRNOTAVAIL');
    assertEmpty(listener);
  });
});

describe('replies', () => {
  // Kbus.txt "Reply message": "When a reply is sent, all listeners for that
  // message name will receive it. However, the original replier will not."
  // "Senders": the sender need not bind to receive the reply.
  test('a reply reaches the original sender and the listeners, not the replier', () => {
    const { sender, replier, listener } = setup();
    const requestId = sendRequest(sender, '$.Fred');
    const request = next(replier);
    drain(listener);
    const replyId = sendReply(replier, request, { data: new Uint8Array([42]) });
    for (const k of [sender, listener]) {
      const got = drain(k);
      assert.equal(got.length, 1, `Ksock ${k.id}`);
      const reply = got[0]!;
      assert.deepEqual(reply.id, replyId);
      assert.deepEqual(reply.inReplyTo, requestId);
      assert.equal(reply.from, replier.id);
      assert.equal(reply.to, sender.id);
      assert.equal(reply.name, '$.Fred');
      assert.deepEqual(reply.data, new Uint8Array([42]));
      assert.equal(reply.flags & Flags.SYNTHETIC, 0);
    }
    assertEmpty(replier);
  });

  // Kbus.txt "Request message": "when the reply is sent, only the 'plain'
  // listener will receive a copy of the reply message".
  test('a replier that also listens to the name gets one copy of its own reply', () => {
    const engine = new Engine();
    const both = engine.open();
    const sender = engine.open();
    both.bind('$.Fred', true);
    both.bind('$.Fred');
    sendRequest(sender, '$.Fred');
    const request = drain(both).find((m) => m.flags & Flags.WANT_YOU_TO_REPLY)!;
    const replyId = sendReply(both, request);
    const got = drain(both);
    assert.equal(got.length, 1);
    assert.deepEqual(got[0]!.id, replyId);
    assert.deepEqual(next(sender).id, replyId);
  });

  // Kbus.txt "Listeners" via "Senders": "if a sender binds to listen to the
  // name it uses for its request, then it will get a copy of the request as
  // sent, and it will also get (an extra) copy of the reply".
  test('a sender that listens to the name gets the request and two copies of the reply', () => {
    const engine = new Engine();
    const sender = engine.open();
    const replier = engine.open();
    replier.bind('$.Fred', true);
    sender.bind('$.Fred');
    const requestId = sendRequest(sender, '$.Fred');
    const replyId = sendReply(replier, next(replier));
    const got = drain(sender).map((m) => m.id);
    assert.deepEqual(got, [requestId, replyId, replyId]);
  });

  // Kbus.txt "Error numbers", ECONNREFUSED: "this appears to be an attempt to
  // reply to the wrong message id".
  test('a reply to the wrong message id is ECONNREFUSED', () => {
    const { sender, replier } = setup();
    sendRequest(sender, '$.Fred');
    const request = next(replier);
    throwsCode(
      () =>
        sendReply(replier, request, {
          inReplyTo: { networkId: 0, serialNum: request.id.serialNum + 100 },
        }),
      'ECONNREFUSED',
    );
    assertEmpty(sender);
  });

  // Kbus.txt "Error numbers", ECONNREFUSED: "... or the wrong Ksock".
  test('a reply to the wrong Ksock is ECONNREFUSED', () => {
    const { sender, replier, listener } = setup();
    sendRequest(sender, '$.Fred');
    const request = next(replier);
    drain(listener);
    throwsCode(() => sendReply(replier, request, { to: listener.id }), 'ECONNREFUSED');
    assertEmpty(listener);
    assertEmpty(sender);
  });

  // Kbus.txt "Requests and Replies": "each Request will (eventually) be
  // matched by a consequent Reply ... and only one such"; a second reply is
  // not expected (ECONNREFUSED).
  test('a second reply to the same request is ECONNREFUSED', () => {
    const { sender, replier } = setup();
    sendRequest(sender, '$.Fred');
    const request = next(replier);
    sendReply(replier, request);
    throwsCode(() => sendReply(replier, request), 'ECONNREFUSED');
    assert.equal(drain(sender).length, 1);
  });

  // Kbus.txt "Error numbers", EADDRNOTAVAIL: "On attempting to send a Reply
  // message: The sender of the original request ... is no longer connected."
  test('a reply after the sender closed is EADDRNOTAVAIL', () => {
    const { sender, replier, listener } = setup();
    sendRequest(sender, '$.Fred');
    const request = next(replier);
    drain(listener);
    sender.close();
    throwsCode(() => sendReply(replier, request), 'EADDRNOTAVAIL');
    assertEmpty(listener);
  });
});

describe('UNREPLIEDTO', () => {
  // Kbus.txt "IOCTLS": UNREPLIEDTO "Determines how many Requests (marked
  // WANT_YOU_TO_REPLY) this Ksock still needs to reply to"; kbus.c counts a
  // request from the moment NEXTMSG pops it.
  test('UNREPLIEDTO counts the requests read and not yet replied to', () => {
    const { sender, replier } = setup();
    sendRequest(sender, '$.Fred');
    sendRequest(sender, '$.Fred');
    assert.equal(replier.unrepliedTo(), 0, 'queued, not yet read');
    assert.ok(replier.nextMsg() > 0);
    assert.equal(replier.unrepliedTo(), 1);
    const second = next(replier);
    assert.equal(replier.unrepliedTo(), 2);
    sendReply(replier, second);
    assert.equal(replier.unrepliedTo(), 1);
  });

  // Kbus.txt "IOCTLS": only requests marked WANT_YOU_TO_REPLY count; a
  // listener's copy of a request owes nothing.
  test('a listener copy of a request does not count in UNREPLIEDTO', () => {
    const { sender, listener } = setup();
    sendRequest(sender, '$.Fred');
    next(listener);
    assert.equal(listener.unrepliedTo(), 0);
  });
});
