/**
 * MessageAssembler: the incremental reader behind WRITE (kbus.c
 * kbus_write_parts; protocol.md "WRITE / SEND / DISCARD").
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  encodeMessage,
  entireMessageLength,
  MESSAGE_PARTS,
  type Message,
  MessageAssembler,
  makeMessage,
} from '../../src/wire/index.js';
import {
  ascii,
  feed,
  messageArb,
  plainNameOfLength,
  RUNS,
  setWord,
  throwsKbus,
} from './support.js';

const MAX = 1 << 20;

const fredData = makeMessage({
  id: { networkId: 0, serialNum: 7 },
  to: 3,
  flags: 0x00010001,
  name: '$.Fred',
  data: ascii('abc1234'),
});

function assembleWhole(bytes: Uint8Array, littleEndian = true): Message | undefined {
  const assembler = new MessageAssembler(MAX, littleEndian);
  assembler.write(bytes);
  return assembler.message;
}

describe('MessageAssembler: pieces of any size', () => {
  for (const le of [true, false]) {
    const order = le ? 'little-endian' : 'big-endian';
    const bytes = encodeMessage(fredData, le);

    test(`a whole message in one write is finished (${order})`, () => {
      const assembler = new MessageAssembler(MAX, le);
      assert.equal(assembler.started, false);
      assert.equal(assembler.finished, false);
      assembler.write(bytes);
      assert.equal(assembler.started, true);
      assert.equal(assembler.finished, true);
      assert.equal(assembler.length, bytes.length);
      assert.deepEqual(assembler.message, fredData);
    });

    test(`one byte at a time gives the same message, finished only at the last byte (${order})`, () => {
      const assembler = new MessageAssembler(MAX, le);
      for (let i = 0; i < bytes.length; i++) {
        assert.equal(assembler.finished, false, `finished early, at ${i}`);
        assert.equal(assembler.message, undefined);
        assembler.write(bytes.subarray(i, i + 1));
        assert.equal(assembler.length, i + 1);
      }
      assert.equal(assembler.finished, true);
      assert.deepEqual(assembler.message, fredData);
    });

    test(`split into two pieces at every offset gives the same message (${order})`, () => {
      for (let cut = 0; cut <= bytes.length; cut++) {
        const assembler = new MessageAssembler(MAX, le);
        assembler.write(bytes.subarray(0, cut));
        assembler.write(bytes.subarray(cut));
        assert.equal(assembler.finished, true, `cut at ${cut}`);
        assert.deepEqual(assembler.message, fredData, `cut at ${cut}`);
      }
    });
  }

  test('any message written in any pieces assembles to itself', () => {
    fc.assert(
      fc.property(
        messageArb,
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 6 }),
        (msg, le, cuts) => {
          const assembler = new MessageAssembler(MAX, le);
          feed(assembler, encodeMessage(msg, le), cuts);
          assert.equal(assembler.finished, true);
          assert.deepEqual(assembler.message, msg);
        },
      ),
      RUNS,
    );
  });

  test('the finished message does not share the written bytes', () => {
    const bytes = encodeMessage(fredData);
    const assembler = new MessageAssembler(MAX);
    assembler.write(bytes);
    bytes.fill(0);
    assert.deepEqual(assembler.message, fredData);
  });

  test('empty writes change nothing', () => {
    const bytes = encodeMessage(fredData);
    const assembler = new MessageAssembler(MAX);
    assembler.write(new Uint8Array(0));
    assert.equal(assembler.started, false);
    assembler.write(bytes.subarray(0, 64));
    assembler.write(new Uint8Array(0));
    assembler.write(bytes.subarray(64));
    assembler.write(new Uint8Array(0));
    assert.deepEqual(assembler.message, fredData);
  });

  test('reset forgets a partial or finished message and the next one assembles', () => {
    const bytes = encodeMessage(fredData);
    const assembler = new MessageAssembler(MAX);
    assembler.write(bytes.subarray(0, 70));
    assembler.reset();
    assert.equal(assembler.started, false);
    assert.equal(assembler.length, 0);
    assembler.write(bytes);
    assert.deepEqual(assembler.message, fredData);
    assembler.reset();
    assert.equal(assembler.message, undefined);
    assert.equal(assembler.finished, false);
    const other = makeMessage({ name: '$.Jim' });
    assembler.write(encodeMessage(other));
    assert.deepEqual(assembler.message, other);
  });
});

describe('MessageAssembler: checks as each part completes', () => {
  // kbus.c checks the name when the NAME part is complete, before any data
  // arrives: a bad name, or a wildcard (which cannot be sent), is EBADMSG
  // (Kbus.txt "Error numbers": EBADMSG; "Message names").
  for (const name of ['$.Fred.', 'Fred', '$.a..b', '$.Fred.*', '$.Fred.%', '$.*', '$.Fr ed']) {
    test(`the name ${JSON.stringify(name)} is EBADMSG from the write that completes it`, () => {
      const bytes = encodeMessage(makeMessage({ name, data: ascii('abc1234') }));
      const nameEnd = 64 + name.length;
      const assembler = new MessageAssembler(MAX);
      for (let i = 0; i < nameEnd - 1; i++) assembler.write(bytes.subarray(i, i + 1));
      throwsKbus(() => assembler.write(bytes.subarray(nameEnd - 1, nameEnd + 3)), 'EBADMSG');
      assert.equal(assembler.finished, false);
      assert.equal(assembler.message, undefined);
    });
  }

  test('a bad name is reported before a bad final guard, and the message is not finished', () => {
    const bytes = encodeMessage(makeMessage({ name: '$.Fred.*' }));
    bytes[bytes.length - 1] = 0;
    const assembler = new MessageAssembler(MAX);
    throwsKbus(() => assembler.write(bytes), 'EBADMSG');
    assert.equal(assembler.finished, false);
    assert.equal(assembler.message, undefined);
  });

  test('the header is only checked once all 64 bytes are in', () => {
    const bytes = new Uint8Array(64).fill(0x5a); // no guards at all
    const assembler = new MessageAssembler(MAX);
    assembler.write(bytes.subarray(0, 63));
    assert.equal(assembler.length, 63);
    throwsKbus(() => assembler.write(bytes.subarray(63)), 'EINVAL');
  });

  test('header errors: bad guards, name length 0, both send flags are EINVAL; name length 1001 is ENAMETOOLONG', () => {
    const cases: [number, number, 'EINVAL' | 'ENAMETOOLONG'][] = [
      [0, 0, 'EINVAL'],
      [15, 0x4b627574, 'EINVAL'],
      [13, 0, 'EINVAL'],
      [12, 0x300, 'EINVAL'],
      [13, 1001, 'ENAMETOOLONG'],
    ];
    for (const [word, value, code] of cases) {
      const bytes = encodeMessage(fredData);
      setWord(bytes, word, value);
      const assembler = new MessageAssembler(MAX);
      assembler.write(bytes.subarray(0, 63));
      throwsKbus(() => assembler.write(bytes.subarray(63)), code);
    }
  });

  test('a bad final end guard is EINVAL from the last byte, and the message is not finished', () => {
    const bytes = encodeMessage(fredData);
    bytes[bytes.length - 4] = 0x72;
    const assembler = new MessageAssembler(MAX);
    assembler.write(bytes.subarray(0, -1));
    throwsKbus(() => assembler.write(bytes.subarray(-1)), 'EINVAL');
    assert.equal(assembler.message, undefined);
    assert.equal(assembler.finished, false);
  });

  test('a message bigger than maxLength is EMSGSIZE at the 64th byte', () => {
    // The header says 4 GiB of data: refused as soon as the header is complete.
    const bytes = encodeMessage(fredData).subarray(0, 64);
    setWord(bytes, 14, 0xffffffff);
    const assembler = new MessageAssembler(MAX);
    assembler.write(bytes.subarray(0, 63));
    throwsKbus(() => assembler.write(bytes.subarray(63)), 'EMSGSIZE');
  });

  test('a message of exactly maxLength is accepted, one byte more of data is not', () => {
    const length = entireMessageLength(6, 7);
    const atLimit = new MessageAssembler(length);
    atLimit.write(encodeMessage(fredData));
    assert.deepEqual(atLimit.message, fredData);
    const below = new MessageAssembler(length - 1);
    throwsKbus(() => below.write(encodeMessage(fredData)), 'EMSGSIZE');
  });

  test('a 1000-character name is accepted', () => {
    const msg = makeMessage({ name: plainNameOfLength(1000) });
    assert.deepEqual(assembleWhole(encodeMessage(msg)), msg);
  });
});

describe('MessageAssembler: bytes after the final end guard (Kbus.txt EMSGSIZE)', () => {
  test('in the same write are EMSGSIZE', () => {
    const bytes = new Uint8Array(entireMessageLength(6, 7) + 1);
    bytes.set(encodeMessage(fredData));
    throwsKbus(() => assembleWhole(bytes), 'EMSGSIZE');
  });

  test('in a later write are EMSGSIZE', () => {
    const assembler = new MessageAssembler(MAX);
    assembler.write(encodeMessage(fredData));
    throwsKbus(() => assembler.write(Uint8Array.of(0)), 'EMSGSIZE');
    // kbus.c kbus_write: an error discards the message being written, so the
    // next bytes start a new message.
    assert.equal(assembler.started, false);
    assembler.write(encodeMessage(fredData));
    assert.equal(assembler.finished, true);
    throwsKbus(() => assembler.write(encodeMessage(fredData)), 'EMSGSIZE');
  });
});

describe('MessageAssembler: progress() (kbus.c message parts)', () => {
  test('the part names are those of kbus.c', () => {
    assert.deepEqual([...MESSAGE_PARTS], ['HDR', 'NAME', 'NPAD', 'DATA', 'DPAD', 'FINAL']);
  });

  test('reports each part and the byte within it as "$.Fred" + "abc1234" is written', () => {
    // name 6 + NPAD 2, data 7 + DPAD 1, final guard 4: 84 bytes.
    const expected: [string, number][] = [];
    for (let i = 0; i < 64; i++) expected.push(['HDR', i]);
    for (let i = 0; i < 6; i++) expected.push(['NAME', i]);
    for (let i = 0; i < 2; i++) expected.push(['NPAD', i]);
    for (let i = 0; i < 7; i++) expected.push(['DATA', i]);
    expected.push(['DPAD', 0]);
    for (let i = 0; i < 4; i++) expected.push(['FINAL', i]);
    assert.equal(expected.length, 84);

    const bytes = encodeMessage(fredData);
    const assembler = new MessageAssembler(MAX);
    const seen: [string, number][] = [];
    for (let i = 0; i < bytes.length; i++) {
      const { part, pos } = assembler.progress();
      seen.push([part, pos]);
      assembler.write(bytes.subarray(i, i + 1));
    }
    assert.deepEqual(seen, expected);
    // Past the final guard kbus.c has no part name for it.
    assert.deepEqual(assembler.progress(), { part: '???', pos: 0 });
  });

  test('with no data, DATA is next after the name padding and then the final guard', () => {
    const bytes = encodeMessage(makeMessage({ name: '$.Fred' }));
    const assembler = new MessageAssembler(MAX);
    assembler.write(bytes.subarray(0, 72));
    assert.deepEqual(assembler.progress(), { part: 'DATA', pos: 0 });
    assembler.write(bytes.subarray(72, 74));
    assert.deepEqual(assembler.progress(), { part: 'FINAL', pos: 2 });
  });

  test('with data a multiple of 4, DPAD is next after the data and then the final guard', () => {
    const bytes = encodeMessage(makeMessage({ name: '$.Fred', data: ascii('abcd') }));
    const assembler = new MessageAssembler(MAX);
    assembler.write(bytes.subarray(0, 76));
    assert.deepEqual(assembler.progress(), { part: 'DPAD', pos: 0 });
    assembler.write(bytes.subarray(76, 77));
    assert.deepEqual(assembler.progress(), { part: 'FINAL', pos: 1 });
  });
});
