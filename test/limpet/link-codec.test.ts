/**
 * The Limpet link format (limpet.md section 4, settled by section 10.1):
 * the greeting, message frames in network byte order, the three words of
 * `$.KBUS.ReplierBindEvent` data converted, and LinkDecoder's checks,
 * pinned with known bytes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodeGreeting,
  encodeGreeting,
  encodeLinkMessage,
  GREETING_LENGTH,
  LinkDecoder,
  LinkError,
  LinkErrorCode,
} from '../../src/limpet/index.js';
import { encodeMessage, type Message, makeMessage } from '../../src/wire/index.js';
import { fromHex, toHex } from './helpers.js';

const LIMIT = 1024 * 1024;

/** Everything a decoder hands back for `chunks`, fed in order. */
function decodeAll(chunks: Uint8Array[], limit = LIMIT): Message[] {
  const decoder = new LinkDecoder(limit);
  const out: Message[] = [];
  for (const chunk of chunks) decoder.push(chunk, (m) => out.push(m));
  return out;
}

function assertLinkError(fn: () => unknown, code: LinkErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof LinkError, `expected a LinkError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

const { GREETING, PEER_ID, FORMAT, TOO_LARGE } = LinkErrorCode;

describe('greeting (section 4)', () => {
  test('HELO then the network id, big-endian: 8 bytes', () => {
    assert.equal(GREETING_LENGTH, 8);
    assert.equal(toHex(encodeGreeting(2)), '48454c4f00000002');
    assert.equal(toHex(encodeGreeting(1)), '48454c4f00000001');
    assert.equal(toHex(encodeGreeting(0x01020304)), '48454c4f01020304');
    assert.equal(toHex(encodeGreeting(0xfffffffe)), '48454c4ffffffffe');
  });

  test("decoding gives the peer's id", () => {
    assert.equal(decodeGreeting(fromHex('48454c4f00000001'), 2), 1);
    assert.equal(decodeGreeting(fromHex('48454c4f01020304'), 2), 0x01020304);
    assert.equal(decodeGreeting(fromHex('48454c4fffffffff'), 2), 0xffffffff);
    // A view into a larger buffer, at an odd offset.
    const big = fromHex('00ff48454c4f0000000700');
    assert.equal(decodeGreeting(big.subarray(2, 10), 2), 7);
  });

  test('a bad greeting is rejected', () => {
    assertLinkError(() => decodeGreeting(fromHex('48454c5000000001'), 2), GREETING); // HELP
    assertLinkError(() => decodeGreeting(fromHex('68656c6f00000001'), 2), GREETING); // helo
    assertLinkError(() => decodeGreeting(fromHex('0000000148454c4f'), 2), GREETING); // swapped
    assertLinkError(() => decodeGreeting(fromHex('48454c4f000001'), 2), GREETING); // 7 bytes
    assertLinkError(() => decodeGreeting(new Uint8Array(0), 2), GREETING);
  });

  test('network id 0 is rejected', () => {
    assertLinkError(() => decodeGreeting(fromHex('48454c4f00000000'), 2), PEER_ID);
  });

  test("the receiver's own id is rejected", () => {
    assertLinkError(() => decodeGreeting(fromHex('48454c4f00000002'), 2), PEER_ID);
    assertLinkError(() => decodeGreeting(fromHex('48454c4f01020304'), 0x01020304), PEER_ID);
  });
});

// A request as written on the link LA -> LB (section 7 row 3 shape), every
// header word distinct so that a swapped or misplaced word shows.
const REQUEST = makeMessage({
  id: { networkId: 1, serialNum: 0x15 },
  inReplyTo: { networkId: 0x0a0b0c0d, serialNum: 0x01020304 },
  to: 0x11,
  from: 3,
  origFrom: { networkId: 1, localId: 0x33 },
  finalTo: { networkId: 0x44, localId: 0x55 },
  extra: 0x66778899,
  flags: 0xabcd0003,
  name: '$.Abcde',
  data: new TextEncoder().encode('hello'),
});
const REQUEST_HEX = [
  '7375624b', // start_guard, big-endian
  '00000001 00000015', // id {1,21}
  '0a0b0c0d 01020304', // in_reply_to
  '00000011', // to
  '00000003', // from
  '00000001 00000033', // orig_from
  '00000044 00000055', // final_to
  '66778899', // extra
  'abcd0003', // flags
  '00000007', // name_len
  '00000005', // data_len
  '4b627573', // end_guard
  '242e4162 63646500', // '$.Abcde\0'
  '68656c6c 6f000000', // 'hello' padded to 8
  '4b627573', // final end guard
]
  .join('')
  .replace(/\s+/g, '');

// A genuine bind event as the daemon gives it (section 7, "Proxy"): R
// (Ksock 4) binds `$.Q`. Data in daemon order is little-endian.
const BIND_EVENT_DATA_LE = fromHex('01000000' + '04000000' + '03000000' + '242e5100');
const BIND_EVENT = makeMessage({
  id: { networkId: 2, serialNum: 9 },
  origFrom: { networkId: 2, localId: 0 },
  flags: 0x4,
  name: '$.KBUS.ReplierBindEvent',
  data: BIND_EVENT_DATA_LE,
});
const BIND_EVENT_HEX = [
  '7375624b',
  '00000002 00000009', // id {2,9}
  '00000000 00000000',
  '00000000',
  '00000000',
  '00000002 00000000', // orig_from {2,0}
  '00000000 00000000',
  '00000000',
  '00000004', // SYNTHETIC
  '00000017', // name_len 23
  '00000010', // data_len 16, unchanged
  '4b627573',
  // '$.KBUS.ReplierBindEvent\0'
  '242e4b42 55532e52 65706c69 65724269 6e644576 656e7400',
  '00000001 00000004 00000003', // is_bind, binder, name_len: big-endian on the link
  '242e5100', // '$.Q\0': bytes unchanged
  '4b627573',
]
  .join('')
  .replace(/\s+/g, '');

// A reply without data: no data bytes at all, not even padding.
const REPLY = makeMessage({
  inReplyTo: { networkId: 1, serialNum: 21 },
  id: { networkId: 2, serialNum: 30 },
  to: 7,
  from: 4,
  origFrom: { networkId: 2, localId: 4 },
  name: '$.Q',
});
const REPLY_HEX = [
  '7375624b',
  '00000002 0000001e',
  '00000001 00000015',
  '00000007',
  '00000004',
  '00000002 00000004',
  '00000000 00000000',
  '00000000',
  '00000000',
  '00000003',
  '00000000',
  '4b627573',
  '242e5100',
  '4b627573',
]
  .join('')
  .replace(/\s+/g, '');

describe('message frames (section 4)', () => {
  test('a frame is the entire message with every word big-endian', () => {
    const bytes = encodeLinkMessage(REQUEST);
    assert.equal(toHex(bytes), REQUEST_HEX);
    assert.equal(bytes.length, 64 + 8 + 8 + 4);
    // The same message on the daemon's socket differs only in word order.
    const le = encodeMessage(REQUEST, true);
    assert.equal(le.length, bytes.length);
    assert.equal(toHex(le.subarray(0, 4)), '4b627573');
  });

  test('a message without data has no data bytes', () => {
    const bytes = encodeLinkMessage(REPLY);
    assert.equal(toHex(bytes), REPLY_HEX);
    assert.equal(bytes.length, 64 + 4 + 4);
  });

  test('ReplierBindEvent data: three words big-endian on the link, name unchanged', () => {
    const bytes = encodeLinkMessage(BIND_EVENT);
    assert.equal(toHex(bytes), BIND_EVENT_HEX);
    // The message given is not changed.
    assert.equal(toHex(BIND_EVENT.data), toHex(BIND_EVENT_DATA_LE));
  });

  test('decoding converts the bind event words back to daemon (little-endian) order', () => {
    const [event] = decodeAll([fromHex(BIND_EVENT_HEX)]);
    assert.ok(event);
    assert.equal(event.name, '$.KBUS.ReplierBindEvent');
    assert.equal(toHex(event.data), '01000000' + '04000000' + '03000000' + '242e5100');
    assert.deepEqual(event.id, { networkId: 2, serialNum: 9 });
    assert.deepEqual(event.origFrom, { networkId: 2, localId: 0 });
    assert.equal(event.flags, 0x4);
  });

  test('data that merely looks like a bind event is opaque under any other name', () => {
    const other = makeMessage({ name: '$.KBUS.ReplierBindEventX', data: BIND_EVENT_DATA_LE });
    const bytes = encodeLinkMessage(other);
    assert.equal(toHex(bytes.subarray(64 + 28, 64 + 28 + 16)), toHex(BIND_EVENT_DATA_LE));
    const [back] = decodeAll([bytes]);
    assert.equal(toHex(back!.data), toHex(BIND_EVENT_DATA_LE));
  });

  test('decoding the known bytes gives the message back, field by field', () => {
    const [request] = decodeAll([fromHex(REQUEST_HEX)]);
    assert.deepEqual(
      { ...request, data: toHex(request!.data) },
      {
        ...REQUEST,
        data: toHex(REQUEST.data),
      },
    );
    const [reply] = decodeAll([fromHex(REPLY_HEX)]);
    assert.deepEqual({ ...reply, data: toHex(reply!.data) }, { ...REPLY, data: '' });
  });
});

describe('LinkDecoder: frames back to back, in any chunking', () => {
  const stream = fromHex(REQUEST_HEX + BIND_EVENT_HEX + REPLY_HEX + REQUEST_HEX);
  const expected = [REQUEST, BIND_EVENT, REPLY, REQUEST].map((m) => ({
    ...m,
    data: toHex(m.data),
  }));
  const comparable = (ms: Message[]) => ms.map((m) => ({ ...m, data: toHex(m.data) }));

  test('fed whole', () => {
    assert.deepEqual(comparable(decodeAll([stream])), expected);
  });

  test('fed byte by byte', () => {
    const chunks = [...stream].map((b) => Uint8Array.of(b));
    assert.deepEqual(comparable(decodeAll(chunks)), expected);
  });

  test('split in two at every offset', () => {
    for (let at = 0; at <= stream.length; at++) {
      const got = comparable(decodeAll([stream.subarray(0, at), stream.subarray(at)]));
      assert.deepEqual(got, expected, `split at ${at}`);
    }
  });

  test('split in three at many offset pairs', () => {
    for (let a = 0; a <= stream.length; a += 7) {
      for (let b = a; b <= stream.length; b += 13) {
        const chunks = [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)];
        assert.deepEqual(comparable(decodeAll(chunks)), expected, `split at ${a}, ${b}`);
      }
    }
  });

  test('a message is handed over only when its last byte is in', () => {
    const bytes = fromHex(REQUEST_HEX);
    const decoder = new LinkDecoder(LIMIT);
    const out: Message[] = [];
    decoder.push(bytes.subarray(0, bytes.length - 1), (m) => out.push(m));
    assert.equal(out.length, 0);
    decoder.push(bytes.subarray(bytes.length - 1), (m) => out.push(m));
    assert.equal(out.length, 1);
  });
});

/** The request frame's header with word `index` replaced by `value`. */
function headerWith(index: number, value: number): Uint8Array {
  const header = fromHex(REQUEST_HEX).slice(0, 64);
  new DataView(header.buffer).setUint32(index * 4, value >>> 0, false);
  return header;
}

describe('LinkDecoder: a bad header breaks the link as soon as its 64 bytes are in (10.1)', () => {
  const cases: [string, number, number, LinkErrorCode][] = [
    ['a bad start guard', 0, 0x4b627573, FORMAT],
    ['a zero start guard', 0, 0, FORMAT],
    ['a bad end guard (word 15)', 15, 0x7375624b, FORMAT],
    ['name_len 0', 13, 0, FORMAT],
    ['name_len 1001', 13, 1001, FORMAT],
    ['an absurd name_len', 13, 0xffffffff, FORMAT],
    ['data_len over the limit', 14, LIMIT + 1, TOO_LARGE],
    ['an absurd data_len', 14, 0xfffffff0, TOO_LARGE],
  ];
  for (const [what, index, value, code] of cases) {
    test(what, () => {
      const header = headerWith(index, value);
      // 63 bytes are not yet a header: nothing happens.
      const decoder = new LinkDecoder(LIMIT);
      decoder.push(header.subarray(0, 63), () => assert.fail('no message expected'));
      // The 64th byte completes it: LinkError at once, without the rest of the frame.
      assertLinkError(
        () => decoder.push(header.subarray(63), () => assert.fail('no message expected')),
        code,
      );
    });
  }

  test('the same checks one byte at a time', () => {
    const decoder = new LinkDecoder(LIMIT);
    const header = headerWith(14, LIMIT + 1);
    for (let i = 0; i < 63; i++) decoder.push(header.subarray(i, i + 1), () => {});
    assertLinkError(() => decoder.push(header.subarray(63), () => {}), TOO_LARGE);
  });

  test('name_len 1000 and data_len at the limit are accepted', () => {
    const name = `$.${'a'.repeat(998)}`;
    const m = makeMessage({ name, data: new Uint8Array(100).fill(7) });
    const [back] = decodeAll([encodeLinkMessage(m)], 100);
    assert.equal(back!.name, name);
    assert.equal(back!.data.length, 100);
    assertLinkError(() => decodeAll([encodeLinkMessage(m)], 99), TOO_LARGE);
  });

  test('the limit is on data bytes, not the whole frame', () => {
    const m = makeMessage({ name: '$.Q', data: new Uint8Array(16) });
    assert.equal(decodeAll([encodeLinkMessage(m)], 16).length, 1);
    assertLinkError(() => decodeAll([encodeLinkMessage(m)], 15), TOO_LARGE);
  });

  test('a bad final end guard breaks the link', () => {
    const bytes = fromHex(REQUEST_HEX);
    bytes[bytes.length - 1] = 0;
    assertLinkError(() => decodeAll([bytes]), FORMAT);
  });

  test('a little-endian frame (as on the daemon socket) is refused', () => {
    assertLinkError(() => decodeAll([encodeMessage(REQUEST, true)]), FORMAT);
  });
});

/** A SYNTHETIC bind event frame with `data` as the link carries it. */
function bindEventFrame(data: Uint8Array, flags = 0x4): Uint8Array {
  // Build with an arbitrary name, then patch the name in: encodeLinkMessage
  // would convert the words of a real bind event.
  const m = makeMessage({ name: '$.KBUS.ReplierBindEvenT', flags, data });
  const bytes = encodeLinkMessage(m);
  bytes[64 + 22] = 't'.charCodeAt(0);
  return bytes;
}

describe('LinkDecoder: malformed ReplierBindEvent data breaks the link (10.1)', () => {
  test('the patched frame is a well-formed bind event when its data is', () => {
    const data = fromHex('00000001' + '00000004' + '00000003' + '242e5100');
    const [event] = decodeAll([bindEventFrame(data)]);
    assert.equal(event!.name, '$.KBUS.ReplierBindEvent');
    assert.equal(toHex(event!.data), '01000000' + '04000000' + '03000000' + '242e5100');
  });

  test('too short: under the three words', () => {
    assertLinkError(() => decodeAll([bindEventFrame(fromHex('00000001' + '00000004'))]), FORMAT);
    assertLinkError(
      () => decodeAll([bindEventFrame(fromHex('000000010000000400000003').subarray(0, 11))]),
      FORMAT,
    );
  });

  test('data_len other than 12 + the padded name', () => {
    // name_len 3 pads to 4: data_len must be 16.
    const long = fromHex('00000001' + '00000004' + '00000003' + '242e5100' + '00000000');
    assertLinkError(() => decodeAll([bindEventFrame(long)]), FORMAT);
    const shortName = fromHex('00000001' + '00000004' + '00000007' + '242e5100');
    assertLinkError(() => decodeAll([bindEventFrame(shortName)]), FORMAT);
    const noName = fromHex('00000001' + '00000004' + '00000003');
    assertLinkError(() => decodeAll([bindEventFrame(noName)]), FORMAT);
  });

  test('no NUL after the name', () => {
    // name_len 4 pads to 8: '$.QR' then a non-zero byte where the NUL goes.
    const data = fromHex('00000001' + '00000004' + '00000004' + '242e5152' + '41000000');
    assertLinkError(() => decodeAll([bindEventFrame(data)]), FORMAT);
    const good = fromHex('00000001' + '00000004' + '00000004' + '242e5152' + '00000000');
    assert.equal(decodeAll([bindEventFrame(good)]).length, 1);
  });

  test('a bind event without SYNTHETIC is not looked at (dropped later by 10.2)', () => {
    const garbage = fromHex('0102');
    const [event] = decodeAll([bindEventFrame(garbage, 0)]);
    assert.equal(event!.name, '$.KBUS.ReplierBindEvent');
    assert.equal(event!.flags & 0x4, 0);
  });
});
