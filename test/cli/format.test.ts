/**
 * Unit tests of src/cli/format.ts: how `kbus` shows messages (one line, or
 * one JSON object), which data counts as printable, and flag names.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type Colours,
  flagNames,
  hex,
  messageJson,
  messageLine,
  printable,
} from '../../src/cli/format.js';
import { classify } from '../../src/client/index.js';
import { Flags, type MessageInit, makeMessage } from '../../src/wire/index.js';

const plain: Colours = { kind: (s) => s, name: (s) => s, dim: (s) => s, error: (s) => s };
const marked: Colours = {
  kind: (s) => `<k>${s}</k>`,
  name: (s) => `<n>${s}</n>`,
  dim: (s) => `<d>${s}</d>`,
  error: (s) => `<e>${s}</e>`,
};

function message(init: Partial<MessageInit> & { text?: string }) {
  const { text, ...rest } = init;
  return classify(
    makeMessage({
      name: '$.Test.Name',
      id: { networkId: 0, serialNum: 42 },
      from: 3,
      ...rest,
      data: text === undefined ? rest.data : Buffer.from(text),
    }),
  );
}

const bytes = (...b: number[]) => new Uint8Array(b);

describe('flagNames', () => {
  test('no flags: none', () => {
    assert.deepEqual(flagNames(0), []);
  });

  test('each KBUS flag by name, in a fixed order', () => {
    assert.deepEqual(flagNames(Flags.WANT_A_REPLY), ['WANT_A_REPLY']);
    assert.deepEqual(flagNames(Flags.WANT_YOU_TO_REPLY), ['WANT_YOU_TO_REPLY']);
    assert.deepEqual(flagNames(Flags.SYNTHETIC), ['SYNTHETIC']);
    assert.deepEqual(flagNames(Flags.URGENT), ['URGENT']);
    assert.deepEqual(flagNames(Flags.ALL_OR_WAIT), ['ALL_OR_WAIT']);
    assert.deepEqual(flagNames(Flags.ALL_OR_FAIL), ['ALL_OR_FAIL']);
    const all =
      Flags.ALL_OR_FAIL |
      Flags.ALL_OR_WAIT |
      Flags.URGENT |
      Flags.SYNTHETIC |
      Flags.WANT_YOU_TO_REPLY |
      Flags.WANT_A_REPLY;
    assert.deepEqual(flagNames(all), [
      'WANT_A_REPLY',
      'WANT_YOU_TO_REPLY',
      'SYNTHETIC',
      'URGENT',
      'ALL_OR_WAIT',
      'ALL_OR_FAIL',
    ]);
  });

  test('the user bits (top 16) as one hex number, after the names', () => {
    assert.deepEqual(flagNames(0x10000), ['0x10000']);
    assert.deepEqual(flagNames(0xabcd0000 | Flags.URGENT), ['URGENT', '0xabcd0000']);
    // The top bit makes a negative int32; it is still shown unsigned.
    assert.deepEqual(flagNames(0x80000000 | 0), ['0x80000000']);
    assert.deepEqual(flagNames(0xffffffff >>> 0).at(-1), '0xffff0000');
  });
});

describe('printable', () => {
  test('UTF-8 text, with tabs, newlines and carriage returns, is text', () => {
    assert.equal(printable(Buffer.from('hello')), 'hello');
    assert.equal(printable(Buffer.from('a\tb\nc\r\n')), 'a\tb\nc\r\n');
    assert.equal(printable(Buffer.from('héllo ✓ 日本')), 'héllo ✓ 日本');
    assert.equal(printable(new Uint8Array(0)), '');
  });

  test('control characters and invalid UTF-8 are not', () => {
    for (const b of [0x00, 0x01, 0x07, 0x08, 0x0b, 0x0c, 0x0e, 0x1b, 0x1f, 0x7f]) {
      assert.equal(printable(bytes(0x61, b, 0x62)), undefined, `byte 0x${b.toString(16)}`);
    }
    assert.equal(printable(bytes(0xff)), undefined);
    assert.equal(printable(bytes(0xc3)), undefined, 'a cut multi-byte character');
    assert.equal(printable(bytes(0xed, 0xa0, 0x80)), undefined, 'a surrogate');
  });

  test('hex of a view into a larger buffer is of the view only', () => {
    const whole = bytes(1, 2, 3, 4, 5);
    assert.equal(hex(whole.subarray(1, 3)), '0203');
    assert.equal(hex(new Uint8Array(0)), '');
  });
});

describe('messageLine', () => {
  test('an announcement with text: kind (12 wide), id, name, from, to, data quoted', () => {
    const m = message({ text: 'hello "you"\n' });
    assert.equal(
      messageLine(m, plain),
      'announcement {0,42} $.Test.Name from 3 to 0 data "hello \\"you\\"\\n"',
    );
  });

  test('binary data as 0x-hex; no data, no data part', () => {
    assert.equal(
      messageLine(message({ data: bytes(0, 0xff, 0x10) }), plain),
      'announcement {0,42} $.Test.Name from 3 to 0 data 0x00ff10',
    );
    assert.equal(messageLine(message({}), plain), 'announcement {0,42} $.Test.Name from 3 to 0');
  });

  test('a request: its flags', () => {
    const m = message({ flags: Flags.WANT_A_REPLY | Flags.WANT_YOU_TO_REPLY, to: 9, text: 'q' });
    assert.equal(
      messageLine(m, plain),
      'request      {0,42} $.Test.Name from 3 to 9 flags WANT_A_REPLY|WANT_YOU_TO_REPLY data "q"',
    );
  });

  test('a reply: in-reply-to', () => {
    const m = message({ inReplyTo: { networkId: 0, serialNum: 41 }, to: 5, text: 'a' });
    assert.equal(
      messageLine(m, plain),
      'reply        {0,42} $.Test.Name from 3 to 5 in-reply-to {0,41} data "a"',
    );
  });

  test('a status message: SYNTHETIC, in-reply-to, other network ids', () => {
    const m = message({
      name: '$.KBUS.Replier.GoneAway',
      id: { networkId: 7, serialNum: 1 },
      inReplyTo: { networkId: 7, serialNum: 0 },
      flags: Flags.SYNTHETIC,
      from: 0,
      to: 5,
    });
    assert.equal(
      messageLine(m, plain),
      'status       {7,1} $.KBUS.Replier.GoneAway from 0 to 5 in-reply-to {7,0} flags SYNTHETIC',
    );
  });

  test('colours the kind and the name only', () => {
    const m = message({ flags: Flags.URGENT, text: 'x' });
    assert.equal(
      messageLine(m, marked),
      '<k>announcement</k> {0,42} <n>$.Test.Name</n> from 3 to 0 flags URGENT data "x"',
    );
  });

  test('is always one line, whatever the data', () => {
    const m = message({ text: 'one\ntwo\r\nthree' });
    assert.equal(messageLine(m, plain).split(/\r|\n/).length, 1);
  });
});

describe('messageJson', () => {
  test('every field, the flag names, text data and its hex', () => {
    const m = message({
      flags: Flags.WANT_A_REPLY | 0x20000,
      to: 4,
      text: 'hi',
      origFrom: { networkId: 1, localId: 2 },
      finalTo: { networkId: 3, localId: 4 },
    });
    const json = messageJson(m);
    assert.ok(!json.includes('\n'));
    assert.deepEqual(JSON.parse(json), {
      kind: 'request',
      id: { networkId: 0, serialNum: 42 },
      name: '$.Test.Name',
      from: 3,
      to: 4,
      inReplyTo: { networkId: 0, serialNum: 0 },
      origFrom: { networkId: 1, localId: 2 },
      finalTo: { networkId: 3, localId: 4 },
      flags: Flags.WANT_A_REPLY | 0x20000,
      flagNames: ['WANT_A_REPLY', '0x20000'],
      data: 'hi',
      dataHex: '6869',
    });
  });

  test('binary data: data null, dataHex the bytes; no data: empty', () => {
    const binary = JSON.parse(messageJson(message({ data: bytes(1, 2, 0xfe) })));
    assert.equal(binary.data, null);
    assert.equal(binary.dataHex, '0102fe');
    const empty = JSON.parse(messageJson(message({})));
    assert.equal(empty.data, '');
    assert.equal(empty.dataHex, '');
  });

  test('kinds: reply and status', () => {
    const reply = JSON.parse(messageJson(message({ inReplyTo: { networkId: 0, serialNum: 1 } })));
    assert.equal(reply.kind, 'reply');
    assert.deepEqual(reply.inReplyTo, { networkId: 0, serialNum: 1 });
    const status = JSON.parse(
      messageJson(message({ name: '$.KBUS.Replier.Unbound', flags: Flags.SYNTHETIC })),
    );
    assert.equal(status.kind, 'status');
    assert.deepEqual(status.flagNames, ['SYNTHETIC']);
  });
});
