/**
 * EncodedMessage, the daemon's form of a message sent whole: every field
 * reads as the bytes say, before and after stamp(), which changes the
 * fields and the bytes together.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodeMessage,
  decodeWhole,
  EncodedMessage,
  encodeMessage,
  Flags,
  makeMessage,
} from '../../src/wire/index.js';

const FULL = makeMessage({
  id: { networkId: 0, serialNum: 0 },
  inReplyTo: { networkId: 7, serialNum: 8 },
  to: 9,
  from: 10,
  origFrom: { networkId: 11, localId: 12 },
  finalTo: { networkId: 13, localId: 14 },
  extra: 15,
  flags: Flags.URGENT | Flags.SYNTHETIC,
  name: '$.a.b',
  data: new Uint8Array([1, 2, 3, 4, 5]),
});

/** The fields of `m` as plain data, to compare. */
function fields(m: {
  id: object;
  inReplyTo: object;
  to: number;
  from: number;
  origFrom: object;
  finalTo: object;
  extra: number;
  flags: number;
  name: string;
  data: Uint8Array;
}) {
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
    data: [...m.data],
  };
}

describe('EncodedMessage', () => {
  test('decodeWhole reads every field as the bytes say', () => {
    const bytes = encodeMessage(FULL);
    const m = decodeWhole(bytes, 1 << 20, undefined);
    assert.ok(m instanceof EncodedMessage);
    assert.deepEqual(fields(m), fields(FULL));
    assert.equal(m.length, bytes.length);
  });

  test('stamp() changes the id, from, extra and SYNTHETIC in the fields and the bytes alike', () => {
    const m = decodeWhole(encodeMessage(FULL), 1 << 20, undefined);
    m.stamp({ networkId: 0, serialNum: 42 }, 3);
    const expected = {
      ...fields(FULL),
      id: { networkId: 0, serialNum: 42 },
      from: 3,
      extra: 0,
      flags: Flags.URGENT,
    };
    assert.deepEqual(fields(m), expected);
    // The bytes say the same, so whoever reads them (a recipient) sees it too.
    assert.deepEqual(fields(decodeMessage(m.bytes)), expected);
  });

  test('fields set to zero read as zero ids and addresses', () => {
    const m = decodeWhole(encodeMessage(makeMessage({ name: '$.z' })), 1 << 20, undefined);
    assert.deepEqual(m.inReplyTo, { networkId: 0, serialNum: 0 });
    assert.deepEqual(m.origFrom, { networkId: 0, localId: 0 });
    assert.deepEqual(m.finalTo, { networkId: 0, localId: 0 });
    assert.equal(m.to, 0);
    assert.equal(m.data.length, 0);
  });
});
