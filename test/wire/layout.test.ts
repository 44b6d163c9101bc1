/**
 * The "entire" message layout (Kbus.txt "Message implementation",
 * kbus_defns.h, protocol.md "Messages on the wire"): known bytes, the
 * length formula, round trips and the decoder's checks.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  decodeMessage,
  END_GUARD,
  encodedLength,
  encodeMessage,
  entireMessageLength,
  Flags,
  HEADER_LENGTH,
  type Message,
  makeMessage,
  paddedDataLength,
  paddedNameLength,
  START_GUARD,
} from '../../src/wire/index.js';
import {
  ascii,
  fromHex,
  hex,
  messageArb,
  plainNameOfLength,
  RUNS,
  setWord,
  throwsKbus,
  toHex,
} from './support.js';

// Kbus.txt "Message implementation": the "entire" announcement "$.Fred",
// without data and with data "abc1234". Words are little-endian on the
// daemon's socket and big-endian on a Limpet link (protocol.md).
const FRED_LE = hex(
  '4b627573', // start_guard 0x7375624B, "Kbus"
  '00000000 00000000', // id (0,0)
  '00000000 00000000', // in_reply_to (0,0)
  '00000000', // to
  '00000000', // from
  '00000000 00000000', // orig_from
  '00000000 00000000', // final_to
  '00000000', // extra
  '00000000', // flags
  '06000000', // name_len 6
  '00000000', // data_len 0
  '7375624b', // end_guard 0x4B627573, "subK"
  '242e4672 65640000', // '$.Fred\0\0'
  '7375624b', // final end guard
);

const FRED_BE = hex(
  '7375624b', // start_guard
  '00000000 00000000',
  '00000000 00000000',
  '00000000',
  '00000000',
  '00000000 00000000',
  '00000000 00000000',
  '00000000',
  '00000000',
  '00000006', // name_len 6
  '00000000', // data_len 0
  '4b627573', // end_guard
  '242e4672 65640000', // '$.Fred\0\0' (bytes: not affected by byte order)
  '4b627573',
);

const FRED_DATA_LE = hex(
  '4b627573',
  '00000000 00000000',
  '00000000 00000000',
  '00000000',
  '00000000',
  '00000000 00000000',
  '00000000 00000000',
  '00000000',
  '00000000',
  '06000000', // name_len 6
  '07000000', // data_len 7
  '7375624b',
  '242e4672 65640000', // '$.Fred\0\0'
  '61626331 32333400', // 'abc1234\0'
  '7375624b',
);

const FRED_DATA_BE = hex(
  '7375624b',
  '00000000 00000000',
  '00000000 00000000',
  '00000000',
  '00000000',
  '00000000 00000000',
  '00000000 00000000',
  '00000000',
  '00000000',
  '00000006',
  '00000007',
  '4b627573',
  '242e4672 65640000',
  '61626331 32333400',
  '4b627573',
);

// Every header field distinct, to pin the word order of protocol.md's table.
const ALL_FIELDS: Message = makeMessage({
  id: { networkId: 1, serialNum: 2 },
  inReplyTo: { networkId: 3, serialNum: 4 },
  to: 5,
  from: 6,
  origFrom: { networkId: 7, localId: 8 },
  finalTo: { networkId: 9, localId: 10 },
  extra: 11,
  flags: 0x80000001, // a user bit and WANT_A_REPLY
  name: '$.a.b',
  data: Uint8Array.of(0xde, 0xad, 0xbe, 0xef, 0x01),
});

const ALL_FIELDS_LE = hex(
  '4b627573',
  '01000000 02000000', // id {1,2}
  '03000000 04000000', // in_reply_to {3,4}
  '05000000', // to
  '06000000', // from
  '07000000 08000000', // orig_from
  '09000000 0a000000', // final_to
  '0b000000', // extra
  '01000080', // flags
  '05000000', // name_len
  '05000000', // data_len
  '7375624b',
  '242e612e 62000000', // '$.a.b\0' + 2 zero bytes of padding
  'deadbeef 01000000', // data + 3 bytes of padding
  '7375624b',
);

const ALL_FIELDS_BE = hex(
  '7375624b',
  '00000001 00000002',
  '00000003 00000004',
  '00000005',
  '00000006',
  '00000007 00000008',
  '00000009 0000000a',
  '0000000b',
  '80000001',
  '00000005',
  '00000005',
  '4b627573',
  '242e612e 62000000',
  'deadbeef 01000000',
  '4b627573',
);

const fred = makeMessage({ name: '$.Fred' });
const fredData = makeMessage({ name: '$.Fred', data: ascii('abc1234') });

describe('known bytes (Kbus.txt "Message implementation")', () => {
  const cases: [string, Message, boolean, string][] = [
    ['"$.Fred", no data, little-endian', fred, true, FRED_LE],
    ['"$.Fred", no data, big-endian', fred, false, FRED_BE],
    ['"$.Fred" with data "abc1234", little-endian', fredData, true, FRED_DATA_LE],
    ['"$.Fred" with data "abc1234", big-endian', fredData, false, FRED_DATA_BE],
    ['every header field set, little-endian', ALL_FIELDS, true, ALL_FIELDS_LE],
    ['every header field set, big-endian', ALL_FIELDS, false, ALL_FIELDS_BE],
  ];
  for (const [what, msg, le, bytes] of cases) {
    test(`encodeMessage writes ${what}`, () => {
      assert.equal(toHex(encodeMessage(msg, le)), bytes);
    });
    test(`decodeMessage reads ${what}`, () => {
      assert.deepEqual(decodeMessage(fromHex(bytes), { littleEndian: le }), msg);
    });
  }

  test('the guards read "Kbus" and "subK" in little-endian byte order', () => {
    // Kbus.txt "Message content": start guard notionally "Kbus", end guard "subK".
    const bytes = encodeMessage(fred, true);
    assert.equal(Buffer.from(bytes.subarray(0, 4)).toString('latin1'), 'Kbus');
    assert.equal(Buffer.from(bytes.subarray(60, 64)).toString('latin1'), 'subK');
    assert.equal(Buffer.from(bytes.subarray(bytes.length - 4)).toString('latin1'), 'subK');
    assert.equal(START_GUARD, 0x7375624b);
    assert.equal(END_GUARD, 0x4b627573);
  });

  test('a little-endian message read as big-endian fails its start guard (EINVAL)', () => {
    throwsKbus(() => decodeMessage(fromHex(FRED_LE), { littleEndian: false }), 'EINVAL');
    throwsKbus(() => decodeMessage(fromHex(FRED_BE), { littleEndian: true }), 'EINVAL');
  });
});

describe('length formula (kbus_defns.h KBUS_PADDED_NAME_LEN, KBUS_PADDED_DATA_LEN, KBUS_ENTIRE_MSG_LEN)', () => {
  test('name padding allows for the terminating zero byte', () => {
    const table: [number, number][] = [
      [1, 4],
      [2, 4],
      [3, 4],
      [4, 8],
      [5, 8],
      [6, 8],
      [7, 8],
      [8, 12],
      [11, 12],
      [12, 16],
      [999, 1000],
      [1000, 1004],
    ];
    for (const [nameLength, padded] of table) {
      assert.equal(paddedNameLength(nameLength), padded, `name_len ${nameLength}`);
    }
  });

  test('data padding needs no terminating byte, and no data takes no space', () => {
    const table: [number, number][] = [
      [0, 0],
      [1, 4],
      [3, 4],
      [4, 4],
      [5, 8],
      [7, 8],
      [8, 8],
      [9, 12],
    ];
    for (const [dataLength, padded] of table) {
      assert.equal(paddedDataLength(dataLength), padded, `data_len ${dataLength}`);
    }
  });

  test('the padded lengths agree with the C macros for every length up to 5000', () => {
    // C unsigned integer division, written out as in kbus_defns.h.
    const cPaddedName = (n: number) => 4 * Math.trunc((n + 1 + 3) / 4);
    const cPaddedData = (n: number) => 4 * Math.trunc((n + 3) / 4);
    for (let n = 0; n <= 5000; n++) {
      assert.equal(paddedNameLength(n), cPaddedName(n));
      assert.equal(paddedDataLength(n), cPaddedData(n));
    }
  });

  test('an entire message is the 64-byte header, padded name, padded data and a final guard', () => {
    assert.equal(HEADER_LENGTH, 64);
    assert.equal(entireMessageLength(6, 0), 76); // "$.Fred"
    assert.equal(entireMessageLength(6, 7), 84); // "$.Fred", "abc1234"
    assert.equal(entireMessageLength(8, 8), 64 + 12 + 8 + 4);
    assert.equal(entireMessageLength(1000, 0xffffffff), 64 + 1004 + 0x100000000 + 4);
    assert.equal(FRED_LE.length / 2, entireMessageLength(6, 0));
    assert.equal(FRED_DATA_LE.length / 2, entireMessageLength(6, 7));
  });

  test('encodedLength is the length encodeMessage writes', () => {
    fc.assert(
      fc.property(messageArb, (msg) => {
        assert.equal(encodeMessage(msg).length, encodedLength(msg));
        assert.equal(encodedLength(msg), entireMessageLength(msg.name.length, msg.data.length));
      }),
      RUNS,
    );
  });
});

describe('encodeMessage', () => {
  test('writes into a target at an offset, leaving the bytes around it alone', () => {
    const target = new Uint8Array(10 + 84 + 6).fill(0xaa);
    const out = encodeMessage(fredData, true, target, 10);
    assert.equal(out, target);
    assert.equal(toHex(target.subarray(10, 94)), FRED_DATA_LE);
    assert.ok(target.subarray(0, 10).every((b) => b === 0xaa));
    assert.ok(target.subarray(94).every((b) => b === 0xaa));
  });

  test('pads with zero bytes even over a dirty target (Kbus.txt "Message content")', () => {
    const target = new Uint8Array(84).fill(0xff);
    encodeMessage(fredData, false, target);
    assert.equal(toHex(target), FRED_DATA_BE);
  });

  test('a target too small for the message is EMSGSIZE', () => {
    throwsKbus(() => encodeMessage(fredData, true, new Uint8Array(83)), 'EMSGSIZE');
    throwsKbus(() => encodeMessage(fredData, true, new Uint8Array(90), 7), 'EMSGSIZE');
  });

  test('the flags argument overrides the message flags and nothing else', () => {
    const out = encodeMessage(ALL_FIELDS, true, undefined, 0, Flags.WANT_YOU_TO_REPLY);
    const decoded = decodeMessage(out);
    assert.equal(decoded.flags, Flags.WANT_YOU_TO_REPLY);
    assert.deepEqual({ ...decoded, flags: ALL_FIELDS.flags }, ALL_FIELDS);
  });
});

describe('round trip', () => {
  test('decodeMessage(encodeMessage(m)) is m, little-endian', () => {
    fc.assert(
      fc.property(messageArb, (msg) => {
        assert.deepEqual(decodeMessage(encodeMessage(msg, true), { littleEndian: true }), msg);
      }),
      RUNS,
    );
  });

  test('decodeMessage(encodeMessage(m)) is m, big-endian', () => {
    fc.assert(
      fc.property(messageArb, (msg) => {
        assert.deepEqual(decodeMessage(encodeMessage(msg, false), { littleEndian: false }), msg);
      }),
      RUNS,
    );
  });

  test('the two byte orders differ only in the words, never in name or data bytes', () => {
    fc.assert(
      fc.property(messageArb, (msg) => {
        const le = encodeMessage(msg, true);
        const be = encodeMessage(msg, false);
        assert.equal(le.length, be.length);
        const words = new DataView(be.buffer);
        const swapped = new Uint8Array(le.length);
        swapped.set(le);
        const out = new DataView(swapped.buffer);
        for (const at of [...Array(16).keys()].map((i) => i * 4).concat(le.length - 4)) {
          out.setUint32(at, words.getUint32(at, false), true);
        }
        assert.deepEqual(swapped, le);
        assert.deepEqual(be.subarray(64, -4), le.subarray(64, -4));
      }),
      RUNS,
    );
  });

  test('a 1000-character name round trips', () => {
    const msg = makeMessage({ name: plainNameOfLength(1000), data: ascii('x') });
    assert.equal(msg.name.length, 1000);
    assert.deepEqual(decodeMessage(encodeMessage(msg)), msg);
  });

  test('decoded data is a copy unless shareData is asked for', () => {
    const bytes = fromHex(FRED_DATA_LE);
    const copied = decodeMessage(bytes);
    const shared = decodeMessage(bytes, { shareData: true });
    bytes[72] = 0x41; // first data byte: 'a' -> 'A'
    assert.equal(Buffer.from(copied.data).toString('latin1'), 'abc1234');
    assert.equal(Buffer.from(shared.data).toString('latin1'), 'Abc1234');
  });

  test('a message inside a larger buffer decodes from its own bytes', () => {
    const buffer = new Uint8Array(100).fill(0xee);
    buffer.set(fromHex(FRED_DATA_LE), 8);
    assert.deepEqual(decodeMessage(buffer.subarray(8, 92)), fredData);
  });
});

describe('decoder checks (kbus.c kbus_check_message_written, Kbus.txt "Error numbers")', () => {
  const valid = () => fromHex(FRED_DATA_LE);

  test('a bad start guard is EINVAL', () => {
    const bytes = valid();
    setWord(bytes, 0, 0x7375624c);
    throwsKbus(() => decodeMessage(bytes), 'EINVAL');
  });

  test('a bad header end guard is EINVAL', () => {
    const bytes = valid();
    setWord(bytes, 15, 0);
    throwsKbus(() => decodeMessage(bytes), 'EINVAL');
  });

  test('a bad final end guard is EINVAL', () => {
    const bytes = valid();
    bytes[bytes.length - 1] = 0;
    throwsKbus(() => decodeMessage(bytes), 'EINVAL');
    // Big-endian: the final guard is checked in the message's own byte order.
    const be = fromHex(FRED_DATA_BE);
    setWord(be, be.length / 4 - 1, END_GUARD, true);
    throwsKbus(() => decodeMessage(be, { littleEndian: false }), 'EINVAL');
  });

  test('a final guard in the wrong place (data_len off by a word) is EINVAL', () => {
    const bytes = valid();
    setWord(bytes, 14, 3); // data_len 7 -> 3: the final guard is now expected at 76
    // Bytes 76..80 are '234\0', not the guard.
    throwsKbus(() => decodeMessage(bytes.subarray(0, 80)), 'EINVAL');
  });

  test('a name length of 0 is EINVAL', () => {
    const bytes = valid();
    setWord(bytes, 13, 0);
    throwsKbus(() => decodeMessage(bytes), 'EINVAL');
  });

  test('a name length of 1001 is ENAMETOOLONG, 1000 is accepted', () => {
    const long = encodeMessage(makeMessage({ name: plainNameOfLength(1000) }));
    assert.equal(decodeMessage(long).name.length, 1000);
    const bytes = valid();
    setWord(bytes, 13, 1001);
    throwsKbus(() => decodeMessage(bytes), 'ENAMETOOLONG');
    setWord(bytes, 13, 0xffffffff);
    throwsKbus(() => decodeMessage(bytes), 'ENAMETOOLONG');
  });

  test('ALL_OR_WAIT together with ALL_OR_FAIL is EINVAL, either alone is fine', () => {
    // Kbus.txt "Message flags"; kbus.c: "cannot have both ALL_OR_WAIT and ALL_OR_FAIL".
    const bytes = valid();
    setWord(bytes, 12, Flags.ALL_OR_WAIT);
    assert.equal(decodeMessage(bytes).flags, Flags.ALL_OR_WAIT);
    setWord(bytes, 12, Flags.ALL_OR_FAIL | 0xffff0000);
    assert.equal(decodeMessage(bytes).flags, (Flags.ALL_OR_FAIL | 0xffff0000) >>> 0);
    setWord(bytes, 12, Flags.ALL_OR_WAIT | Flags.ALL_OR_FAIL);
    throwsKbus(() => decodeMessage(bytes), 'EINVAL');
  });

  test('a truncated message is EINVAL', () => {
    const bytes = valid();
    for (const length of [0, 1, 63, 64, 76, 80, 83]) {
      throwsKbus(() => decodeMessage(bytes.subarray(0, length)), 'EINVAL');
    }
  });

  test('bytes after the final end guard are EMSGSIZE', () => {
    for (const extra of [1, 3, 4, 84]) {
      const bytes = new Uint8Array(84 + extra);
      bytes.set(valid());
      throwsKbus(() => decodeMessage(bytes), 'EMSGSIZE');
    }
  });

  test('a message longer than maxLength is EMSGSIZE, one exactly maxLength is accepted', () => {
    assert.deepEqual(decodeMessage(valid(), { maxLength: 84 }), fredData);
    throwsKbus(() => decodeMessage(valid(), { maxLength: 83 }), 'EMSGSIZE');
  });

  test('a huge data_len is checked against maxLength before the bytes are looked at', () => {
    const header = valid().subarray(0, 64);
    setWord(header, 14, 0xffffffff);
    throwsKbus(() => decodeMessage(header, { maxLength: 1 << 20 }), 'EMSGSIZE');
    // With no limit it is just too short.
    throwsKbus(() => decodeMessage(header), 'EINVAL');
  });

  test('data padding bytes are ignored (Kbus.txt: they may be whatever is convenient)', () => {
    const bytes = valid();
    bytes[79] = 0x99; // the one byte of data padding
    assert.deepEqual(decodeMessage(bytes), fredData);
  });

  test('decodeMessage leaves checking the name to the caller', () => {
    // message.ts: "The name's characters are not checked here; see names.ts."
    for (const name of ['Fred', '$.Fred.*', '$.a..b']) {
      const bytes = encodeMessage(makeMessage({ name }));
      assert.equal(decodeMessage(bytes).name, name);
    }
  });
});
