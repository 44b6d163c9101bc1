/**
 * The Limpet's path for plain announcements, which never decodes them:
 * each byte-level step gives exactly what the decoded path gives.
 * - fromBusBytes decides as fromBus does, and declines every message that
 *   is not a plain announcement;
 * - stampLink, and LinkWriter.writeFromBus, put on the link what
 *   encodeLinkMessage makes of fromBus's stamped message;
 * - isPlainFromLink and LinkAnnouncement inject what otherFromLink makes;
 * - LinkDecoder offers onBytes whole messages only, checked as before
 *   (a bad one still breaks the link), in any chunking.
 */
import assert from 'node:assert/strict';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { FORWARD_BYTES, LinkAnnouncement } from '../../src/limpet/core.js';
import {
  type BusAction,
  encodeLinkMessage,
  LimpetCore,
  LinkDecoder,
  LinkError,
  LinkErrorCode,
} from '../../src/limpet/index.js';
import { LinkWriter } from '../../src/limpet/link-writer.js';
import {
  decodeMessage,
  encodeMessage,
  encodeReplierBindEvent,
  Flags,
  type Message,
  type MessageInit,
  MessageNames,
  makeMessage,
} from '../../src/wire/index.js';
import { within } from '../support/wait.js';

// The Limpet under test: N = 1, P = 2, K = 5.
const N = 1;
const P = 2;
const K = 5;
const IDS = { networkId: N, peerId: P, ksockId: K };
const TERMINATION = '$.Limpet.Stop';
const LIMIT = 1024 * 1024;

const core = () => new LimpetCore(IDS, TERMINATION);
const m = (init: Partial<MessageInit> & { name?: string }) =>
  makeMessage({ name: '$.plain', data: new TextEncoder().encode('data'), ...init });

/** Plain announcements, as a bus might push them to the Limpet. */
const PLAIN: [string, Message][] = [
  ['a local announcement', m({ id: { networkId: 0, serialNum: 7 }, from: 3 })],
  [
    'one already stamped elsewhere',
    m({ id: { networkId: 9, serialNum: 7 }, from: 3, origFrom: { networkId: 9, localId: 4 } }),
  ],
  [
    'orig_from set, id not',
    m({ id: { networkId: 0, serialNum: 8 }, from: 3, origFrom: { networkId: 9, localId: 4 } }),
  ],
  ['our own injection (from K)', m({ id: { networkId: 0, serialNum: 9 }, from: K })],
  ['an echo (id from N)', m({ id: { networkId: N, serialNum: 9 }, from: 3 })],
  ['an echo (id from P)', m({ id: { networkId: P, serialNum: 9 }, from: 3 })],
  ['no data, a long name', m({ name: `$.${'x'.repeat(200)}`, data: new Uint8Array(0), from: 3 })],
  ['flags the user owns', m({ flags: (Flags.URGENT | 0xabcd0000) >>> 0, from: 3 })],
];

/** Everything else: fromBusBytes must leave these to fromBus. */
const NOT_PLAIN: [string, Message][] = [
  [
    'a request for us to answer',
    m({ flags: Flags.WANT_A_REPLY | Flags.WANT_YOU_TO_REPLY, from: 3 }),
  ],
  ['a listener copy of a request', m({ flags: Flags.WANT_A_REPLY, from: 3 })],
  ['a reply', m({ inReplyTo: { networkId: 2, serialNum: 3 }, to: K, from: 3 })],
  ['a reply, serial only', m({ inReplyTo: { networkId: 0, serialNum: 3 }, to: K, from: 3 })],
  [
    'a bind event',
    m({
      name: MessageNames.REPLIER_BIND_EVENT,
      flags: Flags.SYNTHETIC,
      data: encodeReplierBindEvent({ isBind: true, binder: 3, name: '$.svc' }),
    }),
  ],
  ['unbind events lost', m({ name: MessageNames.UNBIND_EVENTS_LOST, flags: Flags.SYNTHETIC })],
  ['the termination message', m({ name: TERMINATION, from: 3 })],
];

function describeAction(action: BusAction | typeof FORWARD_BYTES | undefined): string {
  return action === undefined ? 'undefined' : JSON.stringify(action);
}

describe('LimpetCore.fromBusBytes and stampLink (bus to link)', () => {
  for (const [what, message] of PLAIN) {
    test(`${what}: decided as fromBus decides, stamped as fromBus stamps`, () => {
      const expected = core().fromBus(message);
      const got = core().fromBusBytes(encodeMessage(message, true));
      if (expected.kind === 'forward') {
        assert.equal(got, FORWARD_BYTES, describeAction(got));
        const link = encodeMessage(message, false);
        core().stampLink(link, 0);
        assert.deepEqual(link, encodeLinkMessage(expected.message));
      } else {
        assert.deepEqual(got, expected);
      }
    });
  }
  for (const [what, message] of NOT_PLAIN) {
    test(`${what}: left to fromBus`, () => {
      assert.equal(core().fromBusBytes(encodeMessage(message, true)), undefined);
    });
  }
  test('the name remembered from one message is not taken for the next', () => {
    const c = core();
    assert.equal(
      c.fromBusBytes(encodeMessage(m({ name: '$.Limpet.Stoq', from: 3 }))),
      FORWARD_BYTES,
    );
    assert.equal(c.fromBusBytes(encodeMessage(m({ name: TERMINATION, from: 3 }))), undefined);
    assert.equal(
      c.fromBusBytes(encodeMessage(m({ name: '$.Limpet.Stoq', from: 3 }))),
      FORWARD_BYTES,
    );
  });
});

describe('LinkWriter.writeFromBus', () => {
  test('the link carries what encodeLinkMessage makes of fromBus, in order with write()', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    const writer = netConnect(address.port, '127.0.0.1');
    const reader = await accepted;
    try {
      const c = core();
      const link = new LinkWriter(writer, (bytes, at) => c.stampLink(bytes, at));
      const forwarded = PLAIN.map(([, message]) => message).filter(
        (message) => core().fromBus(message).kind === 'forward',
      );
      const expected: Uint8Array[] = [];
      for (const [i, message] of forwarded.entries()) {
        const action = core().fromBus(message) as { message: Message };
        expected.push(encodeLinkMessage(action.message));
        // The decoded path's write() between byte-level ones keeps its place.
        if (i % 2 === 0) link.writeFromBus(encodeMessage(message, true));
        else link.write(action.message);
      }
      const want = Buffer.concat(expected);
      const chunks: Buffer[] = [];
      let got = 0;
      await within(
        new Promise<void>((resolve) => {
          reader.on('data', (chunk: Buffer) => {
            chunks.push(chunk);
            got += chunk.length;
            if (got >= want.length) resolve();
          });
        }),
        'the forwarded messages on the link',
      );
      assert.ok(Buffer.concat(chunks).equals(want), 'the link bytes differ');
    } finally {
      writer.destroy();
      reader.destroy();
      server.close();
    }
  });
});

/**
 * What otherFromLink() handles on the decoded path: neither a request, nor a
 * reply, nor a bind event. (From the link, UnbindEventsLost and the
 * termination name are announcements like any other.)
 */
function takenFromLink(message: Message): boolean {
  return (
    !(message.flags & Flags.WANT_A_REPLY) &&
    message.inReplyTo.networkId === 0 &&
    message.inReplyTo.serialNum === 0 &&
    message.name !== MessageNames.REPLIER_BIND_EVENT
  );
}

describe('isPlainFromLink and LinkAnnouncement (link to bus)', () => {
  for (const [what, message] of [...PLAIN, ...NOT_PLAIN]) {
    const link = encodeLinkMessage(message);
    const plain = core().isPlainFromLink(link, 0, message.name);
    const isAnnouncement = takenFromLink(message);
    test(`${what}: ${isAnnouncement ? 'injected as bytes' : 'left to the decoded path'}`, () => {
      assert.equal(plain, isAnnouncement);
      if (!plain) return;
      const injected = new Uint8Array(link.length + 8).fill(0xee);
      const announcement = new LinkAnnouncement().set(link, 0, link.length, message.name);
      assert.equal(announcement.length, link.length);
      announcement.writeTo(injected, 4);
      const expected = encodeMessage(core().otherFromLink(message), true);
      assert.deepEqual(injected.subarray(4, 4 + link.length), expected);
      assert.ok(injected.subarray(0, 4).every((b) => b === 0xee));
      assert.ok(injected.subarray(4 + link.length).every((b) => b === 0xee));
    });
  }
  test('ALL_OR_WAIT is cleared (5.3), every other flag kept', () => {
    const flags = (Flags.ALL_OR_WAIT | Flags.URGENT | 0xabcd0000) >>> 0;
    const link = encodeLinkMessage(m({ flags }));
    const out = new Uint8Array(link.length);
    new LinkAnnouncement().set(link, 0, link.length, '$.plain').writeTo(out, 0);
    assert.equal(decodeMessage(out).flags, (Flags.URGENT | 0xabcd0000) >>> 0);
  });
});

describe('LinkDecoder with onBytes', () => {
  const messages = [...PLAIN, ...NOT_PLAIN].map(([, message]) => message);
  const stream = Buffer.concat(messages.map((message) => encodeLinkMessage(message)));
  const comparable = (ms: Message[]) =>
    ms.map((message) => ({ ...message, data: Buffer.from(message.data).toString('hex') }));

  /** What a decoder gives for `chunks`, plain messages taken as bytes and decoded here. */
  function decodeAll(chunks: Uint8Array[], limit = LIMIT) {
    const decoder = new LinkDecoder(limit);
    const out: Message[] = [];
    let asBytes = 0;
    const c = core();
    for (const chunk of chunks) {
      decoder.push(
        chunk,
        (message) => out.push(message),
        (bytes, at, length, name) => {
          assert.ok(at + length <= bytes.length, 'offered a message not wholly in the chunk');
          if (!c.isPlainFromLink(bytes, at, name)) return false;
          const message = decodeMessage(bytes.subarray(at, at + length), { littleEndian: false });
          assert.equal(message.name, name);
          out.push(message);
          asBytes++;
          return true;
        },
      );
    }
    return { out, asBytes };
  }

  const expected = comparable(
    (() => {
      const decoder = new LinkDecoder(LIMIT);
      const out: Message[] = [];
      decoder.push(stream, (message) => out.push(message));
      return out;
    })(),
  );

  test('fed whole: every plain announcement is taken as bytes, the rest decoded', () => {
    const { out, asBytes } = decodeAll([stream]);
    assert.deepEqual(comparable(out), expected);
    assert.equal(asBytes, messages.filter(takenFromLink).length);
    assert.ok(asBytes > 0 && asBytes < messages.length);
  });

  test('split in two at every offset: the same messages, in order', () => {
    for (let at = 0; at <= stream.length; at += 3) {
      const { out } = decodeAll([stream.subarray(0, at), stream.subarray(at)]);
      assert.deepEqual(comparable(out), expected, `split at ${at}`);
    }
  });

  const broken = (what: string, bytes: Uint8Array, code: LinkErrorCode, limit = LIMIT) =>
    test(`${what} still breaks the link`, () => {
      assert.throws(
        () => decodeAll([bytes], limit),
        (err: unknown) => err instanceof LinkError && err.code === code,
      );
    });
  const plain = encodeLinkMessage(PLAIN[0]![1]);
  const badEnd = Uint8Array.from(plain);
  badEnd[badEnd.length - 1] = 0;
  broken('a bad final end guard', badEnd, LinkErrorCode.FORMAT);
  const badStart = Uint8Array.from(plain);
  badStart[0] = 0;
  broken('a bad start guard', badStart, LinkErrorCode.FORMAT);
  broken('data over the limit', plain, LinkErrorCode.TOO_LARGE, 3);
  broken('a little-endian message', encodeMessage(PLAIN[0]![1], true), LinkErrorCode.FORMAT);
});
