/**
 * ALL_OR_WAIT sends (Kbus.txt "Send flags", "Select, write/send and "next
 * message", blocking", "Requests and Replies"; protocol.md ALL_OR_WAIT and
 * "Points the seed leaves open, settled").
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  Engine,
  encodeMessage,
  Flags,
  type EngineKsock as Ksock,
  MessageNames,
  makeMessage,
  OpenMode,
} from './api.js';
import { ascii, drain, next, sendWritten, throwsCode } from './support.js';

const POLLIN = 0x1;
const POLLOUT = 0x4;

/** A sender, and a listener to `name` whose queue (limit 1) is full. */
function blocked(name = '$.Fred') {
  const engine = new Engine();
  const sender = engine.open(0);
  const listener = engine.open(0, OpenMode.READ);
  listener.bind(name);
  listener.setMaxMessages(1);
  sender.sendMessage({ name, data: ascii('filler') });
  assert.equal(listener.numMessages(), 1);
  return { engine, sender, listener };
}

/** SENDs an ALL_OR_WAIT message and expects EAGAIN. */
function sendWaiting(sender: Ksock, name = '$.Fred', flags = 0, to = 0): void {
  throwsCode(
    () =>
      sender.sendMessage({ name, to, data: ascii('waiting'), flags: Flags.ALL_OR_WAIT | flags }),
    'EAGAIN',
  );
}

describe('ALL_OR_WAIT: a SEND that must wait', () => {
  // Kbus.txt "Send flags": "Otherwise SEND returns -EAGAIN"; protocol.md: "A
  // failed SEND carries no result fields, even for -EAGAIN; LASTSENT gives
  // the id that was assigned."
  test('SEND returns EAGAIN and LASTSENT has the id assigned to the message', () => {
    const { sender } = blocked();
    const before = sender.lastSent();
    sendWaiting(sender);
    assert.equal(sender.lastSent().networkId, 0);
    assert.equal(sender.lastSent().serialNum, before.serialNum + 1);
  });

  // Kbus.txt "Select, write/send ...": "the Ksock is still in sending state";
  // protocol.md POLL: POLLOUT "if WRITE would be accepted (writable mode and
  // no send pending)".
  test('while the send is pending, poll lacks POLLOUT', () => {
    const { sender } = blocked();
    assert.equal(sender.poll() & POLLOUT, POLLOUT);
    sendWaiting(sender);
    assert.equal(sender.poll() & POLLOUT, 0);
  });

  // Kbus.txt "Send flags": "It will not be possible to call "write" until the
  // send has completed or been discarded"; "Error numbers" EALREADY;
  // protocol.md: SENDMSG "is -EALREADY while a send is pending".
  test('WRITE, SENDMSG and sendBytes are EALREADY while the send is pending', () => {
    const { sender } = blocked();
    sendWaiting(sender);
    const bytes = encodeMessage(makeMessage({ name: '$.Other' }));
    throwsCode(() => sender.write(bytes), 'EALREADY');
    throwsCode(() => sender.sendMessage({ name: '$.Other' }), 'EALREADY');
    throwsCode(() => sender.sendBytes(bytes), 'EALREADY');
  });

  // Kbus.txt "Select, write/send ...": "use select/poll to wait for the
  // message to finish sending"; protocol.md: "the daemon finishes the send
  // when room appears (POLLOUT then becomes ready)".
  test('the send completes when the full listener reads: it then has the message', () => {
    const { sender, listener } = blocked();
    sendWaiting(sender);
    const id = sender.lastSent();
    assert.equal(Buffer.from(next(listener).data).toString(), 'filler');
    assert.equal(listener.numMessages(), 1);
    const got = next(listener);
    assert.deepEqual(got.id, id);
    assert.equal(got.from, sender.id);
    assert.equal(Buffer.from(got.data).toString(), 'waiting');
  });

  // protocol.md ALL_OR_WAIT: "(POLLOUT then becomes ready)"; Kbus.txt
  // "Select, write/send ...": the Ksock may write again once the send is
  // done.
  test('once the send completes, poll shows POLLOUT and WRITE is accepted again', () => {
    const { sender, listener } = blocked();
    sendWaiting(sender);
    listener.nextMsg();
    assert.equal(sender.poll() & POLLOUT, POLLOUT);
    const following = sender.sendMessage({ name: '$.Other' });
    assert.equal(following.serialNum, 3);
  });

  // protocol.md POLL / ALL_OR_WAIT: the sender is told when the send
  // finishes (the engine's onReady stands for the EVENT frame).
  test('the sender’s onReady is called when its pending send completes', () => {
    const { sender, listener } = blocked();
    sendWaiting(sender);
    const calls: Ksock[] = [];
    sender.onReady = (k) => calls.push(k);
    listener.nextMessage();
    assert.deepEqual(calls, [sender]);
  });

  // Kbus.txt "Send flags": "the caller should either call DISCARD (to drop
  // it)"; protocol.md: "DISCARD abandons it".
  test('DISCARD abandons the pending send: the message never arrives', () => {
    const { sender, listener } = blocked();
    sendWaiting(sender);
    sender.discard();
    assert.equal(sender.poll() & POLLOUT, POLLOUT);
    assert.deepEqual(
      drain(listener).map((m) => Buffer.from(m.data).toString()),
      ['filler'],
    );
    assert.equal(listener.numMessages(), 0);
    throwsCode(() => sendWritten(sender), 'ENOMSG');
  });

  // Kbus.txt "Send flags": the wait is for all the recipients; a second full
  // listener keeps the send pending after the first has room.
  test('the send stays pending until every full listener has room', () => {
    const { engine, sender, listener } = blocked();
    const second = engine.open(0, OpenMode.READ);
    second.bind('$.Fred');
    second.setMaxMessages(1);
    sender.sendMessage({ name: '$.Fred', data: ascii('filler2') });
    assert.equal(second.numMessages(), 1);
    sendWaiting(sender);
    listener.nextMessage();
    assert.equal(sender.poll() & POLLOUT, 0);
    assert.equal(listener.numMessages(), 0);
    second.nextMessage();
    assert.equal(sender.poll() & POLLOUT, POLLOUT);
    assert.equal(listener.numMessages(), 1);
    assert.equal(second.numMessages(), 1);
  });
});

describe('ALL_OR_WAIT: how room appears', () => {
  // kbus.c kbus_send: a SEND of a message still being sent keeps its id
  // ("If we've already tried to send this message earlier ... it already
  // has one"); it is EAGAIN again while the queue is still full.
  test('SEND again while still blocked is EAGAIN again, with the same id', () => {
    const { sender, listener } = blocked();
    sendWaiting(sender);
    const id = sender.lastSent();
    throwsCode(() => sendWritten(sender), 'EAGAIN');
    assert.deepEqual(sender.lastSent(), id);
    assert.equal(sender.poll() & POLLOUT, 0);
    listener.nextMessage();
    assert.deepEqual(next(listener).id, id);
  });

  // Kbus.txt "Send flags": ALL_OR_WAIT covers every intended recipient,
  // the replier of a Request included (kbus.c kbus_write_to_recipients:
  // a full replier gives -EAGAIN when all_or_wait, not -EBUSY).
  test('a Request with ALL_OR_WAIT to a full replier is EAGAIN, and completes when it reads', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const replier = engine.open(0);
    replier.bind('$.Req', true);
    replier.setMaxMessages(1);
    sender.sendMessage({ name: '$.Req', flags: Flags.WANT_A_REPLY });
    sendWaiting(sender, '$.Req', Flags.WANT_A_REPLY);
    const id = sender.lastSent();
    assert.equal(replier.numMessages(), 1);
    replier.nextMessage();
    const second = next(replier);
    assert.deepEqual(second.id, id);
    assert.equal(second.flags & Flags.WANT_YOU_TO_REPLY, Flags.WANT_YOU_TO_REPLY);
    assert.equal(sender.poll() & POLLOUT, POLLOUT);
  });

  // Kbus.txt "Error numbers" ENOLCK and "Queues filling up": when the sender
  // has no room for the Reply, "the blocking behaviours defined below do
  // not occur": ENOLCK, and the sender is not left sending.
  test('a Request with ALL_OR_WAIT from a sender with no room for the Reply is ENOLCK', () => {
    const { engine, sender } = blocked('$.Req');
    const replier = engine.open(0);
    replier.bind('$.Req', true);
    sender.setMaxMessages(1);
    sender.sendMessage({ name: '$.Req', flags: Flags.WANT_A_REPLY });
    const before = sender.lastSent();
    throwsCode(
      () => sender.sendMessage({ name: '$.Req', flags: Flags.WANT_A_REPLY | Flags.ALL_OR_WAIT }),
      'ENOLCK',
    );
    assert.deepEqual(sender.lastSent(), before);
    assert.equal(sender.poll() & POLLOUT, POLLOUT);
  });

  // protocol.md ALL_OR_WAIT: "the daemon finishes the send when room
  // appears"; raising the full listener's MAXMSGS makes room.
  test('raising the full listener’s MAXMSGS lets the pending send complete', () => {
    const { sender, listener } = blocked();
    sendWaiting(sender);
    listener.setMaxMessages(2);
    assert.equal(sender.poll() & POLLOUT, POLLOUT);
    assert.equal(listener.numMessages(), 2);
  });

  // Kbus.txt "Send flags": only the intended recipients count; a listener
  // that unbinds is no longer one, so the send completes without it.
  test('the pending send completes when the full listener unbinds, without reaching it', () => {
    const { engine, sender, listener } = blocked();
    const other = engine.open(0, OpenMode.READ);
    other.bind('$.Fred');
    sendWaiting(sender);
    const id = sender.lastSent();
    assert.equal(other.numMessages(), 0);
    listener.unbind('$.Fred');
    assert.equal(sender.poll() & POLLOUT, POLLOUT);
    assert.equal(listener.numMessages(), 0);
    assert.deepEqual(
      drain(other).map((m) => m.id),
      [id],
    );
  });

  // kbus.c kbus_release: a closed listener is no longer a recipient.
  test('the pending send completes when the full listener closes', () => {
    const { engine, sender, listener } = blocked();
    const other = engine.open(0, OpenMode.READ);
    other.bind('$.Fred');
    sendWaiting(sender);
    const id = sender.lastSent();
    listener.close();
    assert.equal(sender.poll() & POLLOUT, POLLOUT);
    assert.deepEqual(next(other).id, id);
  });

  // kbus.c kbus_release (kbus_empty_write_msg): a sender that closes
  // abandons its pending send.
  test('a pending send is dropped when its sender closes', () => {
    const { sender, listener } = blocked();
    sendWaiting(sender);
    sender.close();
    assert.deepEqual(
      drain(listener).map((m) => Buffer.from(m.data).toString()),
      ['filler'],
    );
  });

  // protocol.md ALL_OR_WAIT: each waiting sender finishes when there is room
  // for its message; one freed slot lets one message in.
  test('two senders waiting on one full listener complete one per freed slot', () => {
    const { engine, sender, listener } = blocked();
    const sender2 = engine.open(0);
    sendWaiting(sender);
    sendWaiting(sender2);
    listener.nextMessage();
    assert.equal(listener.numMessages(), 1);
    const writable = [sender, sender2].filter((k) => (k.poll() & POLLOUT) !== 0);
    assert.equal(writable.length, 1);
    listener.nextMessage();
    assert.equal(listener.numMessages(), 1);
    assert.equal(sender.poll() & POLLOUT, POLLOUT);
    assert.equal(sender2.poll() & POLLOUT, POLLOUT);
  });
});

describe('ALL_OR_WAIT Requests that cannot complete', () => {
  // Kbus.txt "Requests and Replies" case 4: "SEND did not complete, and the
  // replier closes itself before the message can be added to its message
  // queue ... KBUS issues a "$.KBUS.Replier.Disappeared" message" with a
  // 'from' of 0.
  test('a pending Request whose replier closes gets $.KBUS.Replier.Disappeared from 0', () => {
    const { engine, sender, listener } = blocked('$.Req');
    const replier = engine.open(0);
    replier.bind('$.Req', true);
    sendWaiting(sender, '$.Req', Flags.WANT_A_REPLY);
    const id = sender.lastSent();
    replier.close();
    const status = next(sender);
    assert.equal(status.name, MessageNames.REPLIER_DISAPPEARED);
    assert.deepEqual(status.inReplyTo, id);
    assert.equal(status.from, 0);
    assert.equal(status.to, sender.id);
    assert.equal(status.flags & Flags.SYNTHETIC, Flags.SYNTHETIC);
    assert.equal(sender.numMessages(), 0);
    // The send is over, and the listener never gets the Request.
    assert.equal(sender.poll() & POLLOUT, POLLOUT);
    assert.deepEqual(
      drain(listener).map((m) => m.name),
      ['$.Req'],
    );
    assert.equal(listener.numMessages(), 0);
  });

  // Kbus.txt "Requests and Replies" case 5: "SEND did not complete, and an
  // error occurs when the POLL mechanims tries to send the message ... KBUS
  // issues a "$.KBUS.ErrorSending" message" (from 0); "Stateful
  // transactions": a Request 'to' a replier that no longer replies fails.
  test('a pending stateful Request whose replier is replaced gets $.KBUS.ErrorSending', () => {
    const { engine, sender, listener } = blocked('$.Q.A');
    const first = engine.open(0);
    first.bind('$.Q.*', true);
    sendWaiting(sender, '$.Q.A', Flags.WANT_A_REPLY, first.id);
    const id = sender.lastSent();
    // A more specific replier takes '$.Q.A' over from the wildcard replier.
    const second = engine.open(0);
    second.bind('$.Q.A', true);
    listener.nextMessage();
    const status = next(sender);
    assert.equal(status.name, MessageNames.ERROR_SENDING);
    assert.deepEqual(status.inReplyTo, id);
    assert.equal(status.from, 0);
    assert.equal(sender.poll() & POLLOUT, POLLOUT);
    assert.equal(first.numMessages(), 0);
    assert.equal(second.numMessages(), 0);
    assert.equal(listener.numMessages(), 0);
  });

  // Kbus.txt "Requests and Replies": a Request sent with ALL_OR_WAIT that
  // completes later reaches its replier marked WANT_YOU_TO_REPLY.
  test('a pending Request that completes reaches its replier marked WANT_YOU_TO_REPLY', () => {
    const { engine, sender, listener } = blocked('$.Req');
    const replier = engine.open(0);
    replier.bind('$.Req', true);
    sendWaiting(sender, '$.Req', Flags.WANT_A_REPLY);
    const id = sender.lastSent();
    assert.equal(replier.numMessages(), 0);
    listener.nextMessage();
    const request = next(replier);
    assert.deepEqual(request.id, id);
    assert.equal(request.flags & Flags.WANT_YOU_TO_REPLY, Flags.WANT_YOU_TO_REPLY);
  });
});

describe('send flags on Replies', () => {
  // Kbus.txt "Send flags": "Both flags are ignored in reply messages (i.e.,
  // messages with the 'in_reply_to' field set)."
  for (const [flagName, flag] of [
    ['ALL_OR_WAIT', Flags.ALL_OR_WAIT],
    ['ALL_OR_FAIL', Flags.ALL_OR_FAIL],
  ] as const) {
    test(`${flagName} is ignored on a Reply: a full listener is skipped and the Reply is sent`, () => {
      const engine = new Engine();
      const sender = engine.open(0);
      const replier = engine.open(0);
      const listener = engine.open(0, OpenMode.READ);
      replier.bind('$.Req', true);
      listener.bind('$.Req');
      listener.setMaxMessages(1);
      // The listener's copy of the Request fills its queue.
      sender.sendMessage({ name: '$.Req', flags: Flags.WANT_A_REPLY });
      assert.equal(listener.numMessages(), 1);
      const request = next(replier);
      const replyId = replier.sendMessage({
        name: '$.Req',
        inReplyTo: request.id,
        to: request.from,
        flags: flag,
      });
      assert.deepEqual(replier.lastSent(), replyId);
      assert.equal(replier.poll() & POLLOUT, POLLOUT);
      const reply = next(sender);
      assert.deepEqual(reply.id, replyId);
      assert.deepEqual(reply.inReplyTo, request.id);
      assert.equal(listener.numMessages(), 1);
    });
  }
});

describe('POLLIN while sending', () => {
  // Kbus.txt "Select, write/send ...": select for reading "simply checks if
  // there is a message in the Ksock's message list", whatever its send state.
  test('a sender with a pending send still reports POLLIN for its own queue', () => {
    const { engine, sender } = blocked();
    sender.bind('$.Mine');
    sendWaiting(sender);
    assert.equal(sender.poll() & POLLIN, 0);
    const other = engine.open(0);
    other.sendMessage({ name: '$.Mine' });
    assert.equal(sender.poll(), POLLIN);
  });
});
