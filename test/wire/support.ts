/**
 * Small helpers shared by the wire layer tests (no tests here).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  type ErrnoName,
  KbusError,
  type Message,
  type MessageAssembler,
} from '../../src/wire/index.js';

/** Joins hex fragments (whitespace ignored) into one lower-case hex string. */
export function hex(...parts: string[]): string {
  return parts.join('').replace(/\s+/g, '').toLowerCase();
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}

export function fromHex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex(text), 'hex'));
}

export function ascii(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'latin1'));
}

/** Asserts that `fn` throws a KbusError with the given code. */
export function throwsKbus(fn: () => unknown, code: ErrnoName): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof KbusError, `expected a KbusError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

/** Runs `fn`; returns the KbusError it throws (failing on any other throw), or undefined. */
export function kbusErrorOf(fn: () => unknown): KbusError | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (err instanceof KbusError) return err;
    throw err;
  }
}

/** `bytes` cut at the given offsets (any order, repeats allowed; each taken modulo length + 1). */
export function cutAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const to of [...points, bytes.length]) {
    pieces.push(bytes.subarray(from, to));
    from = to;
  }
  return pieces;
}

/** Writes `bytes` to `assembler` in pieces, cut at the given offsets. */
export function feed(
  assembler: MessageAssembler,
  bytes: Uint8Array,
  cuts: readonly number[],
): void {
  for (const piece of cutAt(bytes, cuts)) assembler.write(piece);
}

/** Patches the 32-bit word at index `word` of an encoded message. */
export function setWord(bytes: Uint8Array, word: number, value: number, littleEndian = true): void {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.length).setUint32(
    word * 4,
    value,
    littleEndian,
  );
}

export const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.split('');

export const u32 = fc.oneof(
  { arbitrary: fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff), weight: 1 },
  { arbitrary: fc.integer({ min: 0, max: 0xffffffff }), weight: 4 },
);

/** One word of a message name (Kbus.txt "Message names": word := alphanumerics). */
export const word = fc.string({ unit: fc.constantFrom(...ALNUM), minLength: 1, maxLength: 12 });

/** A plain name from the grammar: '$.' word ( '.' word )*. */
export const shortPlainName = fc
  .array(word, { minLength: 1, maxLength: 6 })
  .map((words) => `$.${words.join('.')}`);

/** A plain name of exactly `length` characters (3 to 1000), dots here and there. */
export function plainNameOfLength(length: number): string {
  let name = '$.';
  for (let i = 0; name.length < length; i++) {
    name += i % 7 === 6 && name.length < length - 1 ? '.' : ALNUM[i % ALNUM.length]!;
  }
  return name;
}

export const plainName = fc.oneof(
  { arbitrary: shortPlainName, weight: 4 },
  { arbitrary: fc.integer({ min: 3, max: 1000 }).map(plainNameOfLength), weight: 1 },
);

/** A wildcard name: '$.' ( word '.' )* ( '*' | '%' ). */
export const wildcardName = fc
  .tuple(fc.array(word, { maxLength: 5 }), fc.constantFrom('*', '%'))
  .map(([words, last]) => `$.${[...words, last].join('.')}`);

/** Records with the usual prototype: deepStrictEqual compares prototypes. */
export const PLAIN = { noNullPrototype: true } as const;

const messageId = fc.oneof(
  { arbitrary: fc.constant({ networkId: 0, serialNum: 0 }), weight: 1 },
  { arbitrary: fc.record({ networkId: u32, serialNum: u32 }, PLAIN), weight: 3 },
);

const networkAddress = fc.oneof(
  { arbitrary: fc.constant({ networkId: 0, localId: 0 }), weight: 1 },
  { arbitrary: fc.record({ networkId: u32, localId: u32 }, PLAIN), weight: 3 },
);

/** Flags as a sender may set them: anything but ALL_OR_WAIT together with ALL_OR_FAIL. */
export const sendableFlags = u32.filter((f) => (f & 0x300) !== 0x300);

/** A message any sender could write (valid, sendable name). */
export const messageArb: fc.Arbitrary<Message> = fc.record(
  {
    id: messageId,
    inReplyTo: messageId,
    to: u32,
    from: u32,
    origFrom: networkAddress,
    finalTo: networkAddress,
    extra: u32,
    flags: sendableFlags,
    name: plainName,
    data: fc.oneof(
      { arbitrary: fc.uint8Array({ maxLength: 12 }), weight: 2 },
      { arbitrary: fc.uint8Array({ maxLength: 4096 }), weight: 1 },
    ),
  },
  PLAIN,
);

/** Bounded property runs: quick, and the default seed handling of fast-check. */
export const RUNS = { numRuns: 300 } as const;
