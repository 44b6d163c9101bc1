/**
 * The data of a "$.KBUS.ReplierBindEvent" message (kbus_defns.h
 * struct kbus_replier_bind_event_data; Kbus.txt "Replier Bind Events").
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  decodeMessage,
  decodeReplierBindEvent,
  encodeMessage,
  encodeReplierBindEvent,
  MessageNames,
  makeMessage,
  type ReplierBindEvent,
} from '../../src/wire/index.js';
import {
  fromHex,
  hex,
  PLAIN,
  plainName,
  RUNS,
  setWord,
  throwsKbus,
  toHex,
  u32,
  wildcardName,
} from './support.js';

const FRED_BIND: ReplierBindEvent = { isBind: true, binder: 3, name: '$.Fred' };

const FRED_BIND_LE = hex(
  '01000000', // is_bind 1
  '03000000', // binder 3
  '06000000', // name_len 6
  '242e4672 65640000', // '$.Fred\0\0'
);

const FRED_BIND_BE = hex('00000001', '00000003', '00000006', '242e4672 65640000');

const eventArb: fc.Arbitrary<ReplierBindEvent> = fc.record(
  {
    isBind: fc.boolean(),
    binder: u32,
    name: fc.oneof(plainName, wildcardName),
  },
  PLAIN,
);

describe('ReplierBindEvent data', () => {
  test('a bind of "$.Fred" by Ksock 3 is 12 + 8 bytes, little-endian', () => {
    assert.equal(toHex(encodeReplierBindEvent(FRED_BIND, true)), FRED_BIND_LE);
    assert.deepEqual(decodeReplierBindEvent(fromHex(FRED_BIND_LE), true), FRED_BIND);
  });

  test('a bind of "$.Fred" by Ksock 3 is 12 + 8 bytes, big-endian', () => {
    assert.equal(toHex(encodeReplierBindEvent(FRED_BIND, false)), FRED_BIND_BE);
    assert.deepEqual(decodeReplierBindEvent(fromHex(FRED_BIND_BE), false), FRED_BIND);
  });

  test('an unbind has is_bind 0', () => {
    const unbind: ReplierBindEvent = { isBind: false, binder: 0x01020304, name: '$.Sensors.*' };
    assert.equal(
      toHex(encodeReplierBindEvent(unbind, true)),
      hex('00000000', '04030201', '0b000000', '242e5365 6e736f72 732e2a00'),
    );
    assert.deepEqual(decodeReplierBindEvent(encodeReplierBindEvent(unbind)), unbind);
  });

  test('any is_bind other than 0 reads as a bind', () => {
    const bytes = fromHex(FRED_BIND_LE);
    setWord(bytes, 0, 0xffffffff);
    assert.equal(decodeReplierBindEvent(bytes).isBind, true);
  });

  test('round trips in both byte orders', () => {
    fc.assert(
      fc.property(eventArb, fc.boolean(), (event, le) => {
        const data = encodeReplierBindEvent(event, le);
        assert.equal(data.length % 4, 0);
        assert.ok(data.length >= 12 + event.name.length + 1);
        assert.deepEqual(decodeReplierBindEvent(data, le), event);
      }),
      RUNS,
    );
  });

  test('round trips as the data of a $.KBUS.ReplierBindEvent message, shared or not', () => {
    const msg = makeMessage({
      name: MessageNames.REPLIER_BIND_EVENT,
      data: encodeReplierBindEvent(FRED_BIND, false),
    });
    for (const shareData of [false, true]) {
      const read = decodeMessage(encodeMessage(msg, false), { littleEndian: false, shareData });
      assert.deepEqual(decodeReplierBindEvent(read.data, false), FRED_BIND);
    }
  });

  test('data shorter than 12 bytes is EINVAL', () => {
    const bytes = fromHex(FRED_BIND_LE);
    for (const length of [0, 4, 11]) {
      throwsKbus(() => decodeReplierBindEvent(bytes.subarray(0, length)), 'EINVAL');
    }
  });

  test('a name that does not fit in the data is EINVAL', () => {
    const bytes = fromHex(FRED_BIND_LE);
    throwsKbus(() => decodeReplierBindEvent(bytes.subarray(0, 17)), 'EINVAL');
    setWord(bytes, 2, 9);
    throwsKbus(() => decodeReplierBindEvent(bytes), 'EINVAL');
    setWord(bytes, 2, 0xffffffff);
    throwsKbus(() => decodeReplierBindEvent(bytes), 'EINVAL');
  });

  test('a name longer than 1000 is EINVAL even if the data holds it', () => {
    const data = new Uint8Array(12 + 1004);
    setWord(data, 2, 1001);
    data.fill(0x61, 12, 12 + 1001);
    throwsKbus(() => decodeReplierBindEvent(data), 'EINVAL');
  });
});
