/**
 * Message queues: their limits, the room reserved for expected replies,
 * what happens when a recipient's queue is full, URGENT messages and
 * MSGONLYONCE (Kbus.txt "Queues filling up", "Urgent messages",
 * "Receiving messages once only", "IOCTLS", "Error numbers").
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DEFAULT_MAX_MESSAGES,
  Engine,
  encodeMessage,
  Flags,
  makeMessage,
  OpenMode,
} from './api.js';
import { ascii, drain, next, sendWritten, throwsCode } from './support.js';

describe('MAXMSGS and NUMMSGS', () => {
  // Kbus.txt "IOCTLS" MAXMSGS: "An attempt to set the queue length to 0 will
  // just return the current queue length"; kbus.c kbus_open: the default is
  // CONFIG_KBUS_DEF_MAX_MESSAGES (100).
  test('a new Ksock queue holds 100 messages, and MAXMSGS 0 only asks', () => {
    const engine = new Engine();
    const k = engine.open(0);
    assert.equal(DEFAULT_MAX_MESSAGES, 100);
    assert.equal(k.setMaxMessages(0), 100);
    assert.equal(k.setMaxMessages(), 100);
  });

  // Kbus.txt "IOCTLS" MAXMSGS: "Set the maximum length ... and return the
  // actual length that is set".
  test('MAXMSGS sets the limit and returns it; a later MAXMSGS 0 reports it', () => {
    const engine = new Engine();
    const k = engine.open(0);
    assert.equal(k.setMaxMessages(5), 5);
    assert.equal(k.setMaxMessages(0), 5);
    assert.equal(k.setMaxMessages(250), 250);
    assert.equal(k.setMaxMessages(0), 250);
  });

  // Kbus.txt "IOCTLS" MAXMSGS; the engine's maxMessages option stands for
  // CONFIG_KBUS_DEF_MAX_MESSAGES.
  test('the engine option maxMessages is the limit of every new Ksock', () => {
    const engine = new Engine({ maxMessages: 7 });
    assert.equal(engine.open(0).setMaxMessages(0), 7);
    assert.equal(engine.open(0, OpenMode.READ).setMaxMessages(0), 7);
  });

  // Kbus.txt "IOCTLS" MAXMSGS only sets the limit: lowering it below the
  // number queued drops nothing, and the queue is full until it drains.
  test('lowering MAXMSGS below the queue length keeps the messages; new ones are skipped', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const listener = engine.open(0, OpenMode.READ);
    listener.bind('$.Fred');
    for (let i = 0; i < 3; i++) sender.sendMessage({ name: '$.Fred' });
    assert.equal(listener.setMaxMessages(1), 1);
    assert.equal(listener.numMessages(), 3);
    sender.sendMessage({ name: '$.Fred' });
    assert.equal(listener.numMessages(), 3);
    drain(listener);
    sender.sendMessage({ name: '$.Fred' });
    assert.equal(listener.numMessages(), 1);
  });

  // Kbus.txt "IOCTLS" NUMMSGS: "how many messages are outstanding in this
  // Ksock's read queue".
  test('NUMMSGS counts the queued messages, and NEXTMSG takes one off', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const listener = engine.open(0, OpenMode.READ);
    listener.bind('$.Fred');
    assert.equal(listener.numMessages(), 0);
    for (let i = 0; i < 3; i++) sender.sendMessage({ name: '$.Fred' });
    assert.equal(listener.numMessages(), 3);
    assert.ok(listener.nextMsg() > 0);
    assert.equal(listener.numMessages(), 2);
    next(listener);
    next(listener);
    assert.equal(listener.numMessages(), 0);
  });
});

describe('room reserved for replies (ENOLCK)', () => {
  // Kbus.txt "Error numbers" ENOLCK and "Queues filling up": a Request needs
  // room in the sender's queue for every Reply already due plus its own.
  test('a sender with MAXMSGS N can have N Requests outstanding, then ENOLCK', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const replier = engine.open(0);
    replier.bind('$.Req', true);
    sender.setMaxMessages(3);
    for (let i = 0; i < 3; i++) sender.sendMessage({ name: '$.Req', flags: Flags.WANT_A_REPLY });
    throwsCode(() => sender.sendMessage({ name: '$.Req', flags: Flags.WANT_A_REPLY }), 'ENOLCK');
    assert.equal(replier.numMessages(), 3);
  });

  // Kbus.txt "Error numbers" ENOLCK: "the send has failed ... nor has the
  // message been assigned a message id"; "Queues filling up": "the message
  // id will not be set".
  test('ENOLCK assigns no id: LASTSENT is unchanged and the next serial number follows on', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const replier = engine.open(0);
    replier.bind('$.Req', true);
    sender.setMaxMessages(1);
    const first = sender.sendMessage({ name: '$.Req', flags: Flags.WANT_A_REPLY });
    throwsCode(() => sender.sendMessage({ name: '$.Req', flags: Flags.WANT_A_REPLY }), 'ENOLCK');
    assert.deepEqual(sender.lastSent(), first);
    const next = sender.sendMessage({ name: '$.Announce' });
    assert.equal(next.serialNum, first.serialNum + 1);
  });

  // Kbus.txt "Error numbers" ENOLCK: "The sender is not left in "sending"
  // state"; SEND of the written bytes fails the same way.
  test('after ENOLCK the sender is not sending: POLLOUT, and WRITE is accepted', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const replier = engine.open(0);
    replier.bind('$.Req', true);
    sender.setMaxMessages(1);
    sender.sendMessage({ name: '$.Req', flags: Flags.WANT_A_REPLY });
    const bytes = encodeMessage(makeMessage({ name: '$.Req', flags: Flags.WANT_A_REPLY }));
    assert.equal(sender.write(bytes), bytes.length);
    throwsCode(() => sendWritten(sender), 'ENOLCK');
    assert.equal(sender.poll() & 0x4, 0x4);
    throwsCode(() => sendWritten(sender), 'ENOMSG');
    const announcement = encodeMessage(makeMessage({ name: '$.Other' }));
    assert.equal(sender.write(announcement), announcement.length);
  });

  // Kbus.txt "Error numbers" ENOLCK: "the solution is to read some of them.
  // Otherwise, the sender will have to wait until one of the Repliers
  // replies".
  test('a reply fills a reserved slot; reading it frees room for another Request', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const replier = engine.open(0);
    replier.bind('$.Req', true);
    sender.setMaxMessages(2);
    sender.sendMessage({ name: '$.Req', flags: Flags.WANT_A_REPLY });
    sender.sendMessage({ name: '$.Req', flags: Flags.WANT_A_REPLY });
    const request = next(replier);
    replier.sendMessage({ name: '$.Req', inReplyTo: request.id, to: request.from });
    // One reply queued plus one still outstanding: the queue is still full.
    assert.equal(sender.numMessages(), 1);
    throwsCode(() => sender.sendMessage({ name: '$.Req', flags: Flags.WANT_A_REPLY }), 'ENOLCK');
    const reply = next(sender);
    assert.deepEqual(reply.inReplyTo, request.id);
    const id = sender.sendMessage({ name: '$.Req', flags: Flags.WANT_A_REPLY });
    assert.deepEqual(sender.lastSent(), id);
  });

  // Kbus.txt "Queues filling up": the reserved slots count against the
  // sender's queue, so messages for it as a listener find it full too.
  test('slots reserved for replies make a listening sender miss announcements', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const replier = engine.open(0);
    const other = engine.open(0);
    replier.bind('$.Req', true);
    sender.bind('$.News');
    sender.setMaxMessages(1);
    sender.sendMessage({ name: '$.Req', flags: Flags.WANT_A_REPLY });
    other.sendMessage({ name: '$.News' });
    assert.equal(sender.numMessages(), 0);
  });
});

describe('full recipients', () => {
  // Kbus.txt "Queues filling up": "If a replier cannot receive a particular
  // message, because its queue is full, then ... the send will fail with an
  // error. This does, however, set the message id (and thus the "last
  // message id" on the sender)"; "Error numbers" EBUSY case 1.
  test('a Request to a replier with a full queue is EBUSY, but its id was assigned (LASTSENT)', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const replier = engine.open(0);
    const listener = engine.open(0, OpenMode.READ);
    replier.bind('$.Req', true);
    replier.setMaxMessages(1);
    const first = sender.sendMessage({ name: '$.Req', flags: Flags.WANT_A_REPLY });
    listener.bind('$.Req');
    throwsCode(() => sender.sendMessage({ name: '$.Req', flags: Flags.WANT_A_REPLY }), 'EBUSY');
    // Nobody gets a Request that its replier cannot take.
    assert.equal(listener.numMessages(), 0);
    assert.equal(sender.lastSent().networkId, 0);
    assert.equal(sender.lastSent().serialNum, first.serialNum + 1);
    assert.equal(replier.numMessages(), 1);
    const next = sender.sendMessage({ name: '$.Announce' });
    assert.equal(next.serialNum, first.serialNum + 2);
  });

  // Kbus.txt "Queues filling up": 3. "Added to all the listener queues that
  // have room (the default)".
  test('by default a listener with a full queue is skipped and the send succeeds', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const full = engine.open(0, OpenMode.READ);
    const roomy = engine.open(0, OpenMode.READ);
    full.bind('$.Fred');
    roomy.bind('$.Fred');
    full.setMaxMessages(1);
    sender.sendMessage({ name: '$.Fred', data: ascii('one') });
    const id = sender.sendMessage({ name: '$.Fred', data: ascii('two') });
    assert.deepEqual(sender.lastSent(), id);
    assert.equal(full.numMessages(), 1);
    assert.equal(roomy.numMessages(), 2);
    assert.deepEqual(
      drain(full).map((m) => Buffer.from(m.data).toString()),
      ['one'],
    );
  });

  // Kbus.txt "Send flags": "If a message has ALL_OR_FAIL set, then a SEND
  // will only succeed if the message could be added to all the (intended)
  // recipient's message queues. Otherwise, SEND returns -EBUSY."
  test('ALL_OR_FAIL with one full listener is EBUSY and no listener gets the message', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const full = engine.open(0, OpenMode.READ);
    const roomy = engine.open(0, OpenMode.READ);
    roomy.bind('$.Fred');
    full.bind('$.Fred');
    full.setMaxMessages(1);
    sender.sendMessage({ name: '$.Fred' });
    throwsCode(() => sender.sendMessage({ name: '$.Fred', flags: Flags.ALL_OR_FAIL }), 'EBUSY');
    assert.equal(roomy.numMessages(), 1);
    assert.equal(full.numMessages(), 1);
    // The sender is not left sending.
    assert.equal(sender.poll() & 0x4, 0x4);
  });

  // Kbus.txt "Send flags": ALL_OR_FAIL succeeds when every queue has room.
  test('ALL_OR_FAIL with room everywhere delivers to every listener', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const a = engine.open(0, OpenMode.READ);
    const b = engine.open(0, OpenMode.READ);
    a.bind('$.Fred');
    b.bind('$.Fred');
    const id = sender.sendMessage({ name: '$.Fred', flags: Flags.ALL_OR_FAIL });
    assert.deepEqual(next(a).id, id);
    assert.deepEqual(next(b).id, id);
  });

  // Kbus.txt "Send flags": "If both are set, the message will be rejected as
  // invalid"; kbus.c kbus_check_message_written returns -EINVAL.
  test('ALL_OR_WAIT and ALL_OR_FAIL together are EINVAL (SENDMSG and WRITE)', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const listener = engine.open(0, OpenMode.READ);
    listener.bind('$.Fred');
    const both = Flags.ALL_OR_WAIT | Flags.ALL_OR_FAIL;
    throwsCode(() => sender.sendMessage({ name: '$.Fred', flags: both }), 'EINVAL');
    const bytes = encodeMessage(makeMessage({ name: '$.Fred', flags: both }));
    throwsCode(() => sender.write(bytes), 'EINVAL');
    throwsCode(() => sendWritten(sender), 'ENOMSG');
    assert.equal(listener.numMessages(), 0);
    assert.deepEqual(sender.lastSent(), { networkId: 0, serialNum: 0 });
  });
});

describe('URGENT', () => {
  // Kbus.txt "Urgent messages": "if two urgent messages are sent to the same
  // target, and *then* a NEXTMSG/read occurs, the second urgent message will
  // be popped and read first."
  test('urgent messages go to the front: the second urgent one is read first', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const listener = engine.open(0, OpenMode.READ);
    listener.bind('$.Fred');
    sender.sendMessage({ name: '$.Fred', data: ascii('plain1') });
    sender.sendMessage({ name: '$.Fred', data: ascii('urgent1'), flags: Flags.URGENT });
    sender.sendMessage({ name: '$.Fred', data: ascii('plain2') });
    sender.sendMessage({ name: '$.Fred', data: ascii('urgent2'), flags: Flags.URGENT });
    assert.deepEqual(
      drain(listener).map((m) => Buffer.from(m.data).toString()),
      ['urgent2', 'urgent1', 'plain1', 'plain2'],
    );
  });
});

describe('MSGONLYONCE', () => {
  // Kbus.txt "Receiving messages once only": a Ksock bound as Replier and
  // Listener gets "the message to which the Replier should reply (the one
  // with WANT_YOU_TO_REPLY set)".
  test('a listener and replier with MSGONLYONCE gets only the WANT_YOU_TO_REPLY copy', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const both = engine.open(0);
    both.bind('$.Fred');
    both.bind('$.Fred', true);
    assert.equal(both.msgOnlyOnce(true), false);
    const id = sender.sendMessage({ name: '$.Fred', flags: Flags.WANT_A_REPLY });
    assert.equal(both.numMessages(), 1);
    const got = next(both);
    assert.deepEqual(got.id, id);
    assert.equal(got.flags & Flags.WANT_YOU_TO_REPLY, Flags.WANT_YOU_TO_REPLY);
  });

  // Kbus.txt "Repliers": "It is perfectly legitimate to bind to a message as
  // both replier and listener, in which case two copies of the message will
  // be read" (by default).
  test('without MSGONLYONCE a listener and replier gets two copies, one marked', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const both = engine.open(0);
    both.bind('$.Fred');
    both.bind('$.Fred', true);
    sender.sendMessage({ name: '$.Fred', flags: Flags.WANT_A_REPLY });
    const copies = drain(both);
    assert.equal(copies.length, 2);
    assert.equal(copies.filter((m) => m.flags & Flags.WANT_YOU_TO_REPLY).length, 1);
  });

  // Kbus.txt "Receiving messages once only": "two overlapping wildcards".
  test('two overlapping wildcards give one copy with MSGONLYONCE, two without', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const once = engine.open(0, OpenMode.READ);
    const twice = engine.open(0, OpenMode.READ);
    for (const k of [once, twice]) {
      k.bind('$.Sensors.*');
      k.bind('$.Sensors.%');
    }
    once.msgOnlyOnce(true);
    sender.sendMessage({ name: '$.Sensors.Kitchen' });
    assert.equal(once.numMessages(), 1);
    assert.equal(twice.numMessages(), 2);
  });

  // Kbus.txt "Receiving messages once only": each message is received once,
  // not each name: a second message still arrives.
  test('MSGONLYONCE still delivers each distinct message', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const once = engine.open(0, OpenMode.READ);
    once.bind('$.Sensors.*');
    once.bind('$.Sensors.Kitchen');
    once.msgOnlyOnce(true);
    const a = sender.sendMessage({ name: '$.Sensors.Kitchen' });
    const b = sender.sendMessage({ name: '$.Sensors.Kitchen' });
    assert.deepEqual(
      drain(once).map((m) => m.id),
      [a, b],
    );
  });

  // Kbus.txt "IOCTLS" MSGONLYONCE: "May also be used to query the current
  // state"; kbus.c kbus_onlyonce returns the previous value.
  test('MSGONLYONCE returns the previous state, and asking does not change it', () => {
    const engine = new Engine();
    const k = engine.open(0);
    assert.equal(k.msgOnlyOnce(), false);
    assert.equal(k.msgOnlyOnce(true), false);
    assert.equal(k.msgOnlyOnce(), true);
    assert.equal(k.msgOnlyOnce(), true);
    assert.equal(k.msgOnlyOnce(false), true);
    assert.equal(k.msgOnlyOnce(), false);
  });
});
