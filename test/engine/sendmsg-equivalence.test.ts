/**
 * SENDMSG is WRITE of one whole message followed by SEND, as one step, with
 * the same results and errors (protocol.md SENDMSG; Kbus.txt "Senders").
 * The engine takes the two roads differently (a whole message is checked
 * in one pass and kept as its bytes; written bytes go through the
 * incremental assembler), so this property drives two engines set up alike,
 * one with SENDMSG and one with WRITE in pieces then SEND, and requires the
 * same outcome every time: the same id or errno, the same messages read by
 * every Ksock, and the same state in /proc/kbus/stats.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  Engine,
  encodeMessage,
  Flags,
  KbusError,
  type EngineKsock as Ksock,
  type Message,
  type MessageId,
  makeMessage,
  NO_ID,
} from './api.js';
import { cutAt, sendWritten, setWord } from './support.js';

/** Small enough that over-long messages are cheap to make, big enough for a 1000-character name. */
const MAX_MESSAGE_SIZE = 2048;

/**
 * One bus, the same every time it is made: a sender that is the replier for
 * '$.q' and owes a reply to the asker's request {0,2}; a listener to '$.a.*'
 * and '$.a.b'; perhaps a replier for '$.a.b' and '$.a.%'; a listener to
 * '$.full.*' whose queue is full; and the asker.
 */
function bus(withReplier: boolean) {
  const engine = new Engine({ maxMessageSize: MAX_MESSAGE_SIZE });
  const sender = engine.open();
  const listener = engine.open();
  const replier = engine.open();
  const full = engine.open();
  const asker = engine.open();
  listener.bind('$.a.*');
  listener.bind('$.a.b');
  if (withReplier) {
    replier.bind('$.a.b', true);
    replier.bind('$.a.%', true);
  }
  full.bind('$.full.*');
  full.setMaxMessages(1);
  asker.sendMessage({ name: '$.full.filler' }); // {0,1}
  sender.bind('$.q', true);
  asker.sendMessage({ name: '$.q', flags: Flags.WANT_A_REPLY }); // {0,2}
  assert.ok(sender.nextMessage(), 'the sender holds the request it owes a reply to');
  return { engine, sender, full, recipients: [sender, listener, replier, full, asker] };
}

type Outcome = { id: MessageId } | { errno: string };

/** What an operation gave: an id, or the code of the KbusError it threw (anything else fails). */
function outcome(send: () => MessageId): Outcome {
  try {
    const id = send();
    return { id: { networkId: id.networkId, serialNum: id.serialNum } };
  } catch (err) {
    if (err instanceof KbusError) return { errno: err.code };
    throw err;
  }
}

/** WRITE of each piece, then SEND: the errno of the first step that fails, or SEND's id. */
function writeThenSend(ksock: Ksock, pieces: readonly Uint8Array[]): MessageId {
  for (const piece of pieces) ksock.write(piece);
  return sendWritten(ksock);
}

/** A message as read through NEXTREAD, as plain data to compare. */
function plain(m: Message) {
  return {
    id: { ...m.id },
    inReplyTo: { ...m.inReplyTo },
    to: m.to,
    from: m.from,
    origFrom: { ...m.origFrom },
    finalTo: { ...m.finalTo },
    extra: m.extra,
    flags: m.flags,
    name: m.name,
    data: Buffer.from(m.data).toString('hex'),
  };
}

function plainOrNone(m: Message | undefined) {
  return m === undefined ? undefined : plain(m);
}

/**
 * Everything a Ksock has queued, read alternately as bytes (NEXTMSG and
 * READ) and as a message (NEXTREAD), so both reading roads are compared.
 */
function readAll(ksock: Ksock): unknown[] {
  const out: unknown[] = [];
  for (;;) {
    if (out.length % 2 === 0) {
      const length = ksock.nextMsg();
      if (length === 0) return out;
      out.push(Buffer.from(ksock.read(length)).toString('hex'));
    } else {
      const m = ksock.nextMessage();
      if (m === undefined) return out;
      out.push(plain(m));
    }
  }
}

// --- Messages, valid and not -------------------------------------------------------

const goodName = fc.oneof(
  // Heard by the listener and perhaps the replier; heard by the full listener.
  { arbitrary: fc.constantFrom('$.a.b', '$.full.x'), weight: 2 },
  fc.constantFrom('$.a.c', '$.a.b.c', '$.q', '$.nobody'),
  fc
    .array(fc.constantFrom('a', 'b', 'Z', '9', 'xyz'), { minLength: 1, maxLength: 5 })
    .map((w) => `$.${w.join('.')}`),
  fc.integer({ min: 3, max: 1000 }).map((n) => `$.${'n'.repeat(n - 2)}`),
);
// Kbus.txt "Message names": wildcards cannot be sent, and the grammar's other breaches.
const badName = fc.constantFrom(
  '$.a.*',
  '$.a.%',
  '$.*',
  '$.a b',
  '$.a..b',
  '$.a.',
  'a.b',
  '$.',
  '$$.a',
  '$.a-b',
  '$.caf\u00e9',
  `$.${'n'.repeat(999)}`,
);

/** `bit` in about one message in `oneIn`. */
function sometimes(bit: number, oneIn: number): fc.Arbitrary<number> {
  return fc.oneof(
    { arbitrary: fc.constant(0), weight: oneIn - 1 },
    { arbitrary: fc.constant(bit), weight: 1 },
  );
}

// Every flag KBUS names (Kbus.txt "Message flags"), and a user bit. Both
// ALL_OR_* bits together (always EINVAL) come up now and then.
const flags = fc
  .tuple(
    sometimes(Flags.WANT_A_REPLY, 3),
    sometimes(Flags.WANT_YOU_TO_REPLY, 8),
    sometimes(Flags.SYNTHETIC, 8),
    sometimes(Flags.URGENT, 4),
    fc.oneof(
      { arbitrary: fc.constant(0), weight: 6 },
      { arbitrary: fc.constantFrom(Flags.ALL_OR_WAIT, Flags.ALL_OR_FAIL), weight: 4 },
      { arbitrary: fc.constant(Flags.ALL_OR_WAIT | Flags.ALL_OR_FAIL), weight: 1 },
    ),
    sometimes(0x10000, 4),
  )
  .map((bits) => bits.reduce((a, b) => a | b, 0) >>> 0);

// The request the sender owes a reply to is {0,2}, from the asker (Ksock 5):
// mostly no reply, sometimes that reply, sometimes a reply to the wrong place.
const replyFields = fc.oneof(
  { arbitrary: fc.constant({ inReplyTo: NO_ID, to: 0 }), weight: 6 },
  { arbitrary: fc.constant({ inReplyTo: { networkId: 0, serialNum: 2 }, to: 5 }), weight: 2 },
  { arbitrary: fc.constant({ inReplyTo: NO_ID, to: 3 }), weight: 1 }, // a stateful request
  {
    arbitrary: fc.record({
      inReplyTo: fc.constantFrom(
        NO_ID,
        { networkId: 0, serialNum: 1 },
        { networkId: 0, serialNum: 2 },
      ),
      to: fc.constantFrom(0, 2, 3, 5, 99),
    }),
    weight: 1,
  },
);

const messageInit = fc
  .record({
    name: fc.oneof({ arbitrary: goodName, weight: 5 }, { arbitrary: badName, weight: 1 }),
    data: fc.oneof(
      { arbitrary: fc.uint8Array({ maxLength: 12 }), weight: 4 },
      { arbitrary: fc.uint8Array({ minLength: 900, maxLength: 1100 }), weight: 1 },
    ),
    flags,
    reply: replyFields,
    id: fc.constantFrom(NO_ID, NO_ID, { networkId: 3, serialNum: 9 }),
    extra: fc.constantFrom(0, 7),
  })
  .map(({ reply, ...rest }) => ({ ...rest, ...reply }));

type Corruption =
  | { kind: 'none' }
  | { kind: 'word'; word: number; value: number }
  | { kind: 'finalGuard'; value: number }
  | { kind: 'padding'; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'append'; bytes: Uint8Array };

const corruption: fc.Arbitrary<Corruption> = fc.oneof(
  { arbitrary: fc.constant({ kind: 'none' as const }), weight: 6 },
  {
    arbitrary: fc.oneof(
      // Start guard, header end guard.
      fc.record({
        kind: fc.constant('word' as const),
        word: fc.constantFrom(0, 15),
        value: fc.integer({ min: 0, max: 0xffffffff }),
      }),
      // name_len: zero, one past the limit, huge, or just wrong.
      fc.record({
        kind: fc.constant('word' as const),
        word: fc.constant(13),
        value: fc.constantFrom(0, 1, 2, 1001, 0xffffffff, 5, 7, 8),
      }),
      // data_len: past the size limit, or just wrong.
      fc.record({
        kind: fc.constant('word' as const),
        word: fc.constant(14),
        value: fc.constantFrom(0, 1, 3, 5, 2000, 0x7fffffff, 0xffffffff),
      }),
      fc.record({
        kind: fc.constant('finalGuard' as const),
        value: fc.integer({ min: 0, max: 0xffffffff }),
      }),
      fc.record({ kind: fc.constant('padding' as const), value: fc.integer({ min: 1, max: 255 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({
        kind: fc.constant('append' as const),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
      }),
    ),
    weight: 4,
  },
);

function corrupt(bytes: Uint8Array, c: Corruption): Uint8Array {
  switch (c.kind) {
    case 'none':
      return bytes;
    case 'word':
      setWord(bytes, c.word, c.value);
      return bytes;
    case 'finalGuard':
      setWord(bytes, bytes.length / 4 - 1, c.value);
      return bytes;
    case 'padding': {
      // The byte after the name: its NUL terminator, never read as part of it.
      const nameLength = new DataView(bytes.buffer).getUint32(52, true);
      bytes[64 + nameLength] = c.value;
      return bytes;
    }
    case 'truncate':
      return bytes.slice(0, c.at % (bytes.length + 1));
    case 'append':
      return Buffer.concat([bytes, c.bytes]);
  }
}

const sendCase = fc.record({
  message: messageInit,
  corruption,
  cuts: fc.array(fc.nat(), { maxLength: 6 }),
  /** Whether the full listener then reads a message, making room (a pending send may finish). */
  makeRoom: fc.boolean(),
});
type SendCase = typeof sendCase extends fc.Arbitrary<infer T> ? T : never;

/** Sends each case with SENDMSG on one bus, with WRITE and SEND on another, comparing as it goes. */
function checkSameOutcome(withReplier: boolean, cases: readonly SendCase[]): void {
  const one = bus(withReplier);
  const other = bus(withReplier);
  const sameState = (what: string) =>
    assert.equal(other.engine.statsText(), one.engine.statsText(), what);
  for (const [i, c] of cases.entries()) {
    const bytes = corrupt(encodeMessage(makeMessage(c.message)), c.corruption);
    const pieces = cutAt(bytes.slice(), c.cuts);
    const what = `send ${i}: ${c.corruption.kind} '${c.message.name}' in ${pieces.length} pieces`;
    const whole = outcome(() => one.sender.sendBytes(bytes.slice()));
    const written = outcome(() => writeThenSend(other.sender, pieces));
    assert.deepEqual(written, whole, what);
    sameState(what);
    if (c.makeRoom) {
      const read = one.full.nextMessage();
      assert.deepEqual(plainOrNone(other.full.nextMessage()), plainOrNone(read), what);
      sameState(`${what}, then room made`);
    }
  }
  one.recipients.forEach((ksock, i) => {
    assert.deepEqual(readAll(other.recipients[i]!), readAll(ksock), `Ksock ${ksock.id}`);
  });
  // Whatever either left behind (a message half written, a send pending) shows here.
  assert.deepEqual(
    outcome(() => sendWritten(other.sender)),
    outcome(() => sendWritten(one.sender)),
  );
  sameState('at the end');
}

describe('SENDMSG and WRITE + SEND', () => {
  test('give the same id or errno, deliver the same messages and leave the same state', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(sendCase, { minLength: 1, maxLength: 4 }),
        checkSameOutcome,
      ),
      { numRuns: 500, includeErrorInReport: true },
    );
  });
});
