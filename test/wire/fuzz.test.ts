/**
 * Hostile input: random bytes and mutated valid messages fed to the
 * decoder and to the assembler only ever produce a KbusError, and then
 * only one of the codes WRITE may return (Kbus.txt "Error numbers";
 * protocol.md: "Nothing the client sends may crash the daemon").
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  decodeMessage,
  END_GUARD,
  type ErrnoName,
  encodeMessage,
  type Message,
  MessageAssembler,
  START_GUARD,
  sendNameError,
} from '../../src/wire/index.js';
import { feed, kbusErrorOf, messageArb, RUNS, u32 } from './support.js';

const DECODE_CODES: readonly ErrnoName[] = ['EINVAL', 'EMSGSIZE', 'ENAMETOOLONG'];
const WRITE_CODES: readonly ErrnoName[] = ['EINVAL', 'EMSGSIZE', 'ENAMETOOLONG', 'EBADMSG'];

const interestingWord = fc.oneof(
  u32,
  fc.constantFrom(0, 1, 2, 3, 4, 5, 999, 1000, 1001, 0x100, 0x200, 0x300, START_GUARD, END_GUARD),
);

type Mutation =
  | { kind: 'byte'; at: number; value: number }
  | { kind: 'word'; word: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'append'; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('byte' as const),
    at: fc.nat(),
    value: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({
    kind: fc.constant('word' as const),
    // The 16 header words, and (as -1) the final end guard.
    word: fc.integer({ min: -1, max: 15 }),
    value: interestingWord,
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('append' as const),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
);

function mutate(original: Uint8Array, mutations: readonly Mutation[], le: boolean): Uint8Array {
  let bytes = original.slice();
  for (const m of mutations) {
    switch (m.kind) {
      case 'byte':
        if (bytes.length > 0) bytes[m.at % bytes.length] = m.value;
        break;
      case 'word': {
        const at = m.word < 0 ? bytes.length - 4 : m.word * 4;
        if (at >= 0 && at + 4 <= bytes.length) {
          new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, m.value, le);
        }
        break;
      }
      case 'truncate':
        bytes = bytes.slice(0, m.at % (bytes.length + 1));
        break;
      case 'append': {
        const longer = new Uint8Array(bytes.length + m.bytes.length);
        longer.set(bytes);
        longer.set(m.bytes, bytes.length);
        bytes = longer;
        break;
      }
    }
  }
  return bytes;
}

const mutatedMessage = fc
  .tuple(messageArb, fc.boolean(), fc.array(mutation, { minLength: 1, maxLength: 4 }))
  .map(([msg, le, mutations]) => ({ bytes: mutate(encodeMessage(msg, le), mutations, le), le }));

const randomBytes = fc.record({
  bytes: fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    // Random bytes behind a valid start guard, so that more gets checked.
    fc.uint8Array({ maxLength: 300 }).map((tail) => Uint8Array.of(0x4b, 0x62, 0x75, 0x73, ...tail)),
  ),
  le: fc.boolean(),
});

const maxLength = fc.constantFrom(100, 4096, 1 << 20);

function checkDecode(bytes: Uint8Array, le: boolean, max: number | undefined): void {
  const err = kbusErrorOf(() => decodeMessage(bytes, { littleEndian: le, maxLength: max }));
  if (err) assert.ok(DECODE_CODES.includes(err.code), `decodeMessage gave ${err.code}`);
}

/**
 * Feeds the bytes to an assembler in pieces. It may only throw KbusErrors
 * with WRITE's codes; and it agrees with decodeMessage: it finishes with a
 * message exactly when the bytes are one whole valid message with a
 * sendable name, and then it is the message decodeMessage reads.
 */
function checkAssembler(bytes: Uint8Array, le: boolean, max: number, cuts: number[]): void {
  const assembler = new MessageAssembler(max, le);
  const err = kbusErrorOf(() => feed(assembler, bytes, cuts));
  if (err) assert.ok(WRITE_CODES.includes(err.code), `MessageAssembler gave ${err.code}`);
  let decoded: Message | undefined;
  try {
    decoded = decodeMessage(bytes, { littleEndian: le, maxLength: max });
  } catch {
    decoded = undefined;
  }
  if (decoded !== undefined && sendNameError(decoded.name) === undefined) {
    assert.equal(err, undefined);
    assert.deepEqual(assembler.message, decoded);
  }
  if (err === undefined && assembler.finished) {
    assert.deepEqual(assembler.message, decoded);
  }
}

describe('fuzzing the decoder', () => {
  test('random bytes give at most EINVAL, EMSGSIZE or ENAMETOOLONG', () => {
    fc.assert(
      fc.property(randomBytes, fc.option(maxLength, { nil: undefined }), ({ bytes, le }, max) =>
        checkDecode(bytes, le, max),
      ),
      RUNS,
    );
  });

  test('mutated valid messages give at most EINVAL, EMSGSIZE or ENAMETOOLONG', () => {
    fc.assert(
      fc.property(mutatedMessage, fc.option(maxLength, { nil: undefined }), ({ bytes, le }, max) =>
        checkDecode(bytes, le, max),
      ),
      RUNS,
    );
  });
});

describe('fuzzing the assembler', () => {
  test('random bytes in random pieces give at most EINVAL, EMSGSIZE, ENAMETOOLONG or EBADMSG', () => {
    fc.assert(
      fc.property(
        randomBytes,
        maxLength,
        fc.array(fc.nat(), { maxLength: 5 }),
        ({ bytes, le }, max, cuts) => checkAssembler(bytes, le, max, cuts),
      ),
      RUNS,
    );
  });

  test('mutated valid messages in random pieces give at most those codes, and agree with decodeMessage', () => {
    fc.assert(
      fc.property(
        mutatedMessage,
        maxLength,
        fc.array(fc.nat(), { maxLength: 5 }),
        ({ bytes, le }, max, cuts) => checkAssembler(bytes, le, max, cuts),
      ),
      RUNS,
    );
  });
});
