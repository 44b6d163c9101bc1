/**
 * The WRITE / SEND / DISCARD and NEXTMSG / READ / LENLEFT state machines
 * (Kbus.txt "Message implementation", "Select, write/send and "next
 * message", blocking", "IOCTLS", "Error numbers"; protocol.md notes on
 * WRITE / SEND / DISCARD, NEXTMSG / READ / LENLEFT, NEXTREADS, and "Points
 * the seed leaves open, settled").
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  Engine,
  encodeMessage,
  entireMessageLength,
  Flags,
  type EngineKsock as Ksock,
  type MessageId,
  makeMessage,
  OpenMode,
} from './api.js';
import { ascii, next, sendWritten, setWord, throwsCode } from './support.js';

function pair() {
  const engine = new Engine();
  const sender = engine.open(0);
  const listener = engine.open(0, OpenMode.READ);
  listener.bind('$.Fred');
  return { engine, sender, listener };
}

/** The bytes a recipient reads for a message `sender` sent as `id`. */
function expectedBytes(
  sender: Ksock,
  id: MessageId,
  name: string,
  data: Uint8Array,
  flags = 0,
): Uint8Array {
  return encodeMessage(makeMessage({ id, from: sender.id, name, data, flags }));
}

/** Writes `bytes` in pieces of `size`, checking each WRITE's count. */
function writeInPieces(ksock: Ksock, bytes: Uint8Array, size: number): void {
  for (let at = 0; at < bytes.length; at += size) {
    const piece = bytes.subarray(at, at + size);
    assert.equal(ksock.write(piece), piece.length);
  }
}

describe('WRITE and SEND', () => {
  // Kbus.txt "Senders": "1. Writing the message to the Ksock ... 2. Calling
  // the SEND ioctl"; "Select, write/send ...": "write writes to the end of
  // the currently-being-written message".
  test('a message written in pieces of any size is sent by SEND', () => {
    for (const size of [1, 3, 5, 64, 1000]) {
      const { sender, listener } = pair();
      const data = ascii('abc1234');
      writeInPieces(sender, encodeMessage(makeMessage({ name: '$.Fred', data })), size);
      const id = sendWritten(sender);
      assert.deepEqual(sender.lastSent(), id);
      const got = next(listener);
      assert.deepEqual(got.id, id);
      assert.equal(got.name, '$.Fred');
      assert.deepEqual(got.data, data);
    }
  });

  // Kbus.txt "Error numbers" ENOMSG: "there has been no write since the
  // last send".
  test('SEND with nothing written is ENOMSG, also right after a successful SEND', () => {
    const { sender } = pair();
    throwsCode(() => sendWritten(sender), 'ENOMSG');
    sender.write(encodeMessage(makeMessage({ name: '$.Fred' })));
    sendWritten(sender);
    throwsCode(() => sendWritten(sender), 'ENOMSG');
  });

  // kbus.c kbus_send: "message not finished" is -EINVAL, and the partial
  // message is discarded (kbus_discard), so SEND is then ENOMSG.
  test('SEND of an unfinished message is EINVAL, and then SEND is ENOMSG', () => {
    const bytes = encodeMessage(makeMessage({ name: '$.Fred', data: ascii('abc1234') }));
    for (const cut of [1, 10, 64, 70, bytes.length - 1]) {
      const { sender, listener } = pair();
      sender.write(bytes.subarray(0, cut));
      throwsCode(() => sendWritten(sender), 'EINVAL', `cut at ${cut}`);
      throwsCode(() => sendWritten(sender), 'ENOMSG', `cut at ${cut}`);
      assert.equal(listener.numMessages(), 0);
    }
  });

  // Kbus.txt "Error numbers" EMSGSIZE: "Data was written after the end of
  // the message (i.e., after the final end guard of the message)";
  // protocol.md: the partial message is discarded, so SEND gets -ENOMSG.
  test('bytes past the final end guard in the same WRITE are EMSGSIZE and discard the message', () => {
    const { sender, listener } = pair();
    const bytes = encodeMessage(makeMessage({ name: '$.Fred' }));
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    throwsCode(() => sender.write(longer), 'EMSGSIZE');
    throwsCode(() => sendWritten(sender), 'ENOMSG');
    assert.equal(listener.numMessages(), 0);
  });

  // Kbus.txt "Error numbers" EMSGSIZE; kbus.c kbus_write_parts: "Attempt to
  // write data after the end guard ... did you forget to 'send'?".
  test('a WRITE after a finished message is EMSGSIZE and discards the message', () => {
    const { sender, listener } = pair();
    const bytes = encodeMessage(makeMessage({ name: '$.Fred' }));
    assert.equal(sender.write(bytes), bytes.length);
    throwsCode(() => sender.write(new Uint8Array(4)), 'EMSGSIZE');
    throwsCode(() => sendWritten(sender), 'ENOMSG');
    assert.equal(listener.numMessages(), 0);
  });

  // kbus.c kbus_check_message_written and kbus_write_parts: a wrong start
  // guard, header end guard or final end guard is -EINVAL, from the WRITE
  // that completes that part; protocol.md: then SEND is -ENOMSG.
  for (const [what, word] of [
    ['start guard', 0],
    ['header end guard', 15],
    ['final end guard', -1],
  ] as const) {
    test(`a bad ${what} is EINVAL from the WRITE that completes it`, () => {
      const { sender, listener } = pair();
      const bytes = encodeMessage(makeMessage({ name: '$.Fred', data: ascii('xyz') }));
      const at = word < 0 ? bytes.length / 4 - 1 : word;
      setWord(bytes, at, 0x12345678);
      const end = word === 0 ? 64 : at * 4 + 4;
      assert.equal(sender.write(bytes.subarray(0, end - 1)), end - 1);
      throwsCode(() => sender.write(bytes.subarray(end - 1, end)), 'EINVAL');
      throwsCode(() => sendWritten(sender), 'ENOMSG');
      assert.equal(listener.numMessages(), 0);
    });
  }

  // kbus.c kbus_check_message_written: a name length of 0 is -EINVAL, one
  // over 1000 is -ENAMETOOLONG (Kbus.txt "Limits", "Error numbers").
  test('a header with name length 0 is EINVAL, and over 1000 is ENAMETOOLONG', () => {
    const { sender } = pair();
    const bytes = encodeMessage(makeMessage({ name: '$.Fred' }));
    setWord(bytes, 13, 0);
    throwsCode(() => sender.write(bytes.subarray(0, 64)), 'EINVAL');
    setWord(bytes, 13, 1001);
    throwsCode(() => sender.write(bytes.subarray(0, 64)), 'ENAMETOOLONG');
    throwsCode(() => sendWritten(sender), 'ENOMSG');
  });

  // Kbus.txt "Error numbers" EBADMSG: "On attempting to ... send a message:
  // The message name is not valid ... can also be because the message name
  // is a wildcard"; protocol.md: reported by the WRITE that completes the
  // faulty part, and the partial message is discarded.
  for (const name of ['$.Fr!d', '$.Fred.*', '$.Fred.%', '$..Fred', 'Fred.$.']) {
    test(`the name '${name}' is EBADMSG from the WRITE that completes the name`, () => {
      const { sender } = pair();
      const bytes = encodeMessage(makeMessage({ name }));
      const nameEnd = 64 + name.length;
      assert.equal(sender.write(bytes.subarray(0, nameEnd - 1)), nameEnd - 1);
      throwsCode(() => sender.write(bytes.subarray(nameEnd - 1)), 'EBADMSG');
      throwsCode(() => sendWritten(sender), 'ENOMSG');
    });
  }
});

describe('DISCARD', () => {
  // Kbus.txt "IOCTLS" DISCARD: "Discard (throw away) the current outstanding
  // message for this Ksock"; "Error numbers" ENOMSG: "... or because the
  // message being written has been discarded".
  test('DISCARD throws away a partly written message: SEND is then ENOMSG', () => {
    const { sender, listener } = pair();
    const bytes = encodeMessage(makeMessage({ name: '$.Fred', data: ascii('first') }));
    sender.write(bytes.subarray(0, 70));
    sender.discard();
    throwsCode(() => sendWritten(sender), 'ENOMSG');
    assert.equal(listener.numMessages(), 0);
  });

  // Kbus.txt "IOCTLS" DISCARD; the next WRITE starts a new message.
  test('after DISCARD of a finished message, the next message is written from its start', () => {
    const { sender, listener } = pair();
    sender.write(encodeMessage(makeMessage({ name: '$.Fred', data: ascii('first') })));
    sender.discard();
    throwsCode(() => sendWritten(sender), 'ENOMSG');
    sender.write(encodeMessage(makeMessage({ name: '$.Fred', data: ascii('second') })));
    sendWritten(sender);
    assert.equal(listener.numMessages(), 1);
    assert.equal(Buffer.from(next(listener).data).toString(), 'second');
  });

  // Kbus.txt "IOCTLS" DISCARD with nothing written has nothing to throw away.
  test('DISCARD with nothing written changes nothing', () => {
    const { sender, listener } = pair();
    sender.discard();
    throwsCode(() => sendWritten(sender), 'ENOMSG');
    const id = sender.sendMessage({ name: '$.Fred' });
    assert.deepEqual(next(listener).id, id);
  });
});

describe('NEXTMSG, READ and LENLEFT', () => {
  // Kbus.txt "IOCTLS" NEXTMSG: "If there is no next message, return a length
  // of 0"; protocol.md NEXTMSG.
  test('NEXTMSG on an empty queue returns 0, and READ then gives no bytes', () => {
    const { listener } = pair();
    assert.equal(listener.nextMsg(), 0);
    assert.equal(listener.read(100).length, 0);
    assert.equal(listener.lenLeft(), 0);
  });

  // Kbus.txt "IOCTLS" NEXTMSG: "The length is always the length of an
  // "entire" message"; "Message implementation": "When reading messages ...
  // the "entire" form is always returned"; kbus.c kbus_read.
  test('NEXTMSG returns the entire length, and READ in pieces gives the exact encoded bytes', () => {
    const { sender, listener } = pair();
    const data = ascii('abc1234');
    const id = sender.sendMessage({ name: '$.Fred', data, flags: 0x00010000 });
    const expected = expectedBytes(sender, id, '$.Fred', data, 0x00010000);
    assert.equal(expected.length, entireMessageLength(6, 7));
    assert.equal(listener.nextMsg(), expected.length);
    const pieces: Uint8Array[] = [];
    for (let piece = listener.read(7); piece.length > 0; piece = listener.read(7)) {
      assert.ok(piece.length <= 7);
      pieces.push(piece);
    }
    assert.deepEqual(Buffer.concat(pieces), Buffer.from(expected));
  });

  // Kbus.txt "IOCTLS" LENLEFT: "how many bytes of the message currently being
  // read are still to read"; kbus.c kbus_lenleft.
  test('LENLEFT counts down as the message is read, to 0 at its end', () => {
    const { sender, listener } = pair();
    sender.sendMessage({ name: '$.Fred', data: ascii('abcdefghij') });
    const total = listener.nextMsg();
    assert.equal(listener.lenLeft(), total);
    let left = total;
    while (left > 0) {
      const got = listener.read(10).length;
      left -= got;
      assert.equal(listener.lenLeft(), left);
    }
    assert.equal(listener.lenLeft(), 0);
    assert.equal(listener.read(10).length, 0);
  });

  // Kbus.txt "Listeners": "If NEXTMSG is called again, the next message will
  // be readied for reading, whether the previous message has been read (or
  // partially read) or not."
  test('NEXTMSG again drops a half-read message and readies the next one', () => {
    const { sender, listener } = pair();
    sender.sendMessage({ name: '$.Fred', data: ascii('first') });
    const second = sender.sendMessage({ name: '$.Fred', data: ascii('second') });
    listener.nextMsg();
    listener.read(10);
    const length = listener.nextMsg();
    const expected = expectedBytes(sender, second, '$.Fred', ascii('second'));
    assert.equal(length, expected.length);
    assert.equal(listener.lenLeft(), expected.length);
    assert.deepEqual(listener.read(1000), expected);
    assert.equal(listener.nextMsg(), 0);
  });

  // Kbus.txt "Message flags": the copy the replier reads has
  // WANT_YOU_TO_REPLY set (and it is in the bytes READ gives).
  test('the bytes a replier READs carry its WANT_YOU_TO_REPLY flag', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const replier = engine.open(0);
    replier.bind('$.Req', true);
    const id = sender.sendMessage({ name: '$.Req', flags: Flags.WANT_A_REPLY });
    replier.nextMsg();
    assert.deepEqual(
      replier.read(1000),
      expectedBytes(
        sender,
        id,
        '$.Req',
        new Uint8Array(0),
        Flags.WANT_A_REPLY | Flags.WANT_YOU_TO_REPLY,
      ),
    );
  });
});

describe('NEXTREAD and NEXTREADS', () => {
  // protocol.md: "NEXTREAD is NEXTMSG followed by reading it all."
  test('NEXTREAD returns the next message whole, then undefined when the queue is empty', () => {
    const { sender, listener } = pair();
    const data = ascii('hello');
    const id = sender.sendMessage({ name: '$.Fred', data });
    assert.deepEqual(
      listener.nextMessage(),
      makeMessage({ id, from: sender.id, name: '$.Fred', data }),
    );
    assert.equal(listener.nextMessage(), undefined);
    assert.equal(listener.lenLeft(), 0);
  });

  // protocol.md NEXTREAD: it pops, so it also ends a half-read message.
  test('NEXTREAD drops a half-read message', () => {
    const { sender, listener } = pair();
    sender.sendMessage({ name: '$.Fred', data: ascii('first') });
    const second = sender.sendMessage({ name: '$.Fred', data: ascii('second') });
    listener.nextMsg();
    listener.read(3);
    assert.deepEqual(next(listener).id, second);
    assert.equal(listener.lenLeft(), 0);
    assert.equal(listener.read(10).length, 0);
  });

  // protocol.md NEXTREADS: "pops messages while the queue is not empty, at
  // most max_count of them".
  test('NEXTREADS pops at most max_count messages, in order', () => {
    const { sender, listener } = pair();
    const ids = [1, 2, 3, 4, 5].map(() => sender.sendMessage({ name: '$.Fred' }));
    assert.deepEqual(
      listener.nextMessages(2, 1 << 20).map((m) => m.id),
      ids.slice(0, 2),
    );
    assert.deepEqual(
      listener.nextMessages(10, 1 << 20).map((m) => m.id),
      ids.slice(2),
    );
    assert.deepEqual(listener.nextMessages(10, 1 << 20), []);
  });

  // protocol.md NEXTREADS: "stops before a message that would take the
  // result past max_bytes (message bytes only ...; it always returns at
  // least one message if any is queued)".
  test('NEXTREADS stops before max_bytes would be passed, but always returns one', () => {
    const { sender, listener } = pair();
    const ids = [1, 2, 3].map(() => sender.sendMessage({ name: '$.Fred' }));
    const one = entireMessageLength(6, 0);
    assert.deepEqual(
      listener.nextMessages(10, 2 * one).map((m) => m.id),
      ids.slice(0, 2),
    );
    assert.deepEqual(
      listener.nextMessages(10, 1).map((m) => m.id),
      ids.slice(2),
    );
    assert.equal(listener.numMessages(), 0);
  });

  // protocol.md NEXTREADS: "max_bytes ... message bytes only": exactly
  // max_bytes fits, one byte less does not.
  test('NEXTREADS counts the entire length of each message against max_bytes', () => {
    const { sender, listener } = pair();
    sender.sendMessage({ name: '$.Fred', data: ascii('12345') });
    sender.sendMessage({ name: '$.Fred', data: ascii('1') });
    sender.sendMessage({ name: '$.Fred' });
    const a = entireMessageLength(6, 5);
    const b = entireMessageLength(6, 1);
    assert.equal(listener.nextMessages(10, a + b - 1).length, 1);
    assert.equal(listener.numMessages(), 2);
    assert.equal(listener.nextMessages(10, b + entireMessageLength(6, 0)).length, 2);
  });

  // protocol.md NEXTREADS: "Each popped message counts as read, exactly as if
  // NEXTREAD had been called for it" (Requests read count in UNREPLIEDTO).
  test('Requests popped by NEXTREADS count as read by the replier', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const replier = engine.open(0);
    replier.bind('$.Req', true);
    sender.sendMessage({ name: '$.Req', flags: Flags.WANT_A_REPLY });
    sender.sendMessage({ name: '$.Req', flags: Flags.WANT_A_REPLY });
    assert.equal(replier.unrepliedTo(), 0);
    assert.equal(replier.nextMessages(10, 1 << 20).length, 2);
    assert.equal(replier.unrepliedTo(), 2);
  });
});

describe('open modes and size limits', () => {
  // protocol.md OPEN: "Mode read-only Ksocks get -EBADF for WRITE, SEND,
  // SENDMSG."
  test('a read-only Ksock gets EBADF for WRITE, SEND and SENDMSG', () => {
    const engine = new Engine();
    const reader = engine.open(0, OpenMode.READ);
    const listener = engine.open(0, OpenMode.READ);
    listener.bind('$.Fred');
    const bytes = encodeMessage(makeMessage({ name: '$.Fred' }));
    throwsCode(() => reader.write(bytes), 'EBADF');
    throwsCode(() => sendWritten(reader), 'EBADF');
    throwsCode(() => reader.sendMessage({ name: '$.Fred' }), 'EBADF');
    throwsCode(() => reader.sendBytes(bytes), 'EBADF');
    assert.equal(listener.numMessages(), 0);
  });

  // protocol.md OPEN mode bits: a write-only Ksock may send.
  test('a write-only Ksock may send', () => {
    const engine = new Engine();
    const writer = engine.open(0, OpenMode.WRITE);
    const listener = engine.open(0, OpenMode.READ);
    listener.bind('$.Fred');
    const id = writer.sendMessage({ name: '$.Fred' });
    assert.deepEqual(next(listener).id, id);
  });

  // protocol.md "Points ... settled": the daemon's maximum message size is
  // configurable; "Error numbers" EMSGSIZE.
  test('a message over the engine maxMessageSize is EMSGSIZE, one of exactly that size is sent', () => {
    const engine = new Engine({ maxMessageSize: 200 });
    const sender = engine.open(0);
    const listener = engine.open(0, OpenMode.READ);
    listener.bind('$.Fred');
    // 64 + 8 (name) + 124 (data) + 4 = 200.
    assert.equal(entireMessageLength(6, 124), 200);
    sender.sendMessage({ name: '$.Fred', data: new Uint8Array(124) });
    throwsCode(() => sender.sendMessage({ name: '$.Fred', data: new Uint8Array(125) }), 'EMSGSIZE');
    const bytes = encodeMessage(makeMessage({ name: '$.Fred', data: new Uint8Array(125) }));
    throwsCode(() => sender.write(bytes.subarray(0, 64)), 'EMSGSIZE');
    throwsCode(() => sendWritten(sender), 'ENOMSG');
    assert.equal(listener.numMessages(), 1);
  });
});
