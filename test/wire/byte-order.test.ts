/**
 * copyReordered: an entire message copied into the other byte order is,
 * byte for byte, what encoding it in that order makes, whatever the
 * lengths of its name and data (padding included), at any offset, and
 * copying back gives the original.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { copyReordered, encodeMessage, Flags, makeMessage } from '../../src/wire/index.js';

/** Every header field different, so that a word swapped wrongly or moved shows. */
function message(name: string, dataLength: number) {
  return makeMessage({
    id: { networkId: 0x01020304, serialNum: 0x05060708 },
    inReplyTo: { networkId: 0x090a0b0c, serialNum: 0x0d0e0f10 },
    to: 0x11121314,
    from: 0x15161718,
    origFrom: { networkId: 0x191a1b1c, localId: 0x1d1e1f20 },
    finalTo: { networkId: 0x21222324, localId: 0x25262728 },
    extra: 0x292a2b2c,
    flags: (Flags.URGENT | 0xabcd0000) >>> 0,
    name,
    data: Uint8Array.from({ length: dataLength }, (_, i) => (i * 7 + 1) & 0xff),
  });
}

describe('copyReordered', () => {
  const cases: [string, number][] = [
    ['$.a', 0],
    ['$.ab', 1],
    ['$.abc', 3],
    ['$.abcd.e', 4],
    ['$.a.longer.name.x', 5],
    ['$.n', 1000],
  ];
  for (const [name, dataLength] of cases) {
    test(`'${name}' with ${dataLength} bytes of data: little-endian to network order and back`, () => {
      const m = message(name, dataLength);
      const little = encodeMessage(m, true);
      const big = encodeMessage(m, false);
      // At an offset in both buffers, with bytes around it that must stay.
      const target = new Uint8Array(big.length + 12).fill(0xee);
      const source = new Uint8Array(little.length + 8);
      source.set(little, 8);
      copyReordered(source, 8, little.length, target, 4);
      assert.deepEqual(target.subarray(4, 4 + big.length), big);
      assert.ok(target.subarray(0, 4).every((b) => b === 0xee));
      assert.ok(target.subarray(4 + big.length).every((b) => b === 0xee));
      const back = new Uint8Array(little.length);
      copyReordered(big, 0, big.length, back, 0);
      assert.deepEqual(back, little);
    });
  }
});
