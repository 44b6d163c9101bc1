/**
 * LinkWriter, the bus-to-link output: what it writes is byte for byte what
 * encodeLinkMessage makes of each message, in order (bind event words
 * converted, a message larger than its slab included); a turn's messages
 * leave in a few socket writes, not one each; and a link that is behind
 * makes write() return a promise (one for every writer) that settles once
 * the peer reads.
 */
import assert from 'node:assert/strict';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { encodeLinkMessage } from '../../src/limpet/index.js';
import { LinkWriter } from '../../src/limpet/link-writer.js';
import {
  encodeReplierBindEvent,
  Flags,
  type Message,
  MessageNames,
  makeMessage,
} from '../../src/wire/index.js';
import { within } from '../support/wait.js';

/** A connected pair of TCP sockets on 127.0.0.1: `writer`'s bytes arrive at `reader`. */
interface Pair {
  writer: Socket;
  reader: Socket;
}

let server: Server;
let accepted: ((socket: Socket) => void) | undefined;

before(async () => {
  server = createServer((socket) => accepted?.(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
after(() => server.close());

async function pair(): Promise<Pair> {
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  const reader = new Promise<Socket>((resolve) => {
    accepted = resolve;
  });
  const writer = netConnect(address.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    writer.once('connect', resolve);
    writer.once('error', reject);
  });
  return { writer, reader: await reader };
}

/** Collects what `socket` receives until `length` bytes have come. */
function receive(socket: Socket, length: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  return within(
    new Promise<Buffer>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        got += chunk.length;
        if (got >= length) resolve(Buffer.concat(chunks));
      });
    }),
    () => `${length} bytes on the link (got ${got})`,
  );
}

function announcement(i: number, dataLength = 8): Message {
  const data = new Uint8Array(dataLength).fill(i & 0xff);
  return makeMessage({
    id: { networkId: 1, serialNum: i + 1 },
    origFrom: { networkId: 1, localId: 5 },
    name: `$.link.writer.${i % 3}`,
    data,
  });
}

const bindEvent = makeMessage({
  id: { networkId: 1, serialNum: 9999 },
  flags: Flags.SYNTHETIC,
  name: MessageNames.REPLIER_BIND_EVENT,
  data: encodeReplierBindEvent({ isBind: true, binder: 7, name: '$.svc' }),
});

describe('LinkWriter', () => {
  test("a turn's messages arrive as encodeLinkMessage makes them, in order, in a few writes", async () => {
    const { writer, reader } = await pair();
    try {
      const messages: Message[] = [];
      for (let i = 0; i < 1000; i++) messages.push(i === 500 ? bindEvent : announcement(i));
      // One larger than the writer's slab, among the rest.
      messages.splice(700, 0, announcement(700, 100_000));
      const expected = Buffer.concat(messages.map((m) => encodeLinkMessage(m)));
      let writes = 0;
      const write = writer.write.bind(writer);
      writer.write = ((chunk: Uint8Array) => {
        writes++;
        return write(chunk);
      }) as typeof writer.write;
      const arrived = receive(reader, expected.length);
      const link = new LinkWriter(writer);
      for (const m of messages) link.write(m);
      const got = await arrived;
      assert.equal(got.length, expected.length);
      assert.ok(got.equals(expected), 'the bytes on the link differ from encodeLinkMessage');
      // Some 130 KB: a write per 48 KB or so, not one per message.
      assert.ok(writes <= 8, `${writes} socket writes for ${messages.length} messages`);
    } finally {
      writer.destroy();
      reader.destroy();
    }
  });

  test('a link that is behind makes write() return one promise for all who wait, settled once the peer reads', async () => {
    const { writer, reader } = await pair();
    try {
      reader.pause();
      const link = new LinkWriter(writer);
      let waiting: Promise<void> | undefined;
      let sent = 0;
      // The kernel's buffers fill, then the socket's own: bounded by what they hold.
      while (waiting === undefined && sent < 10_000) {
        waiting = link.write(announcement(sent++, 60_000));
        if (waiting === undefined) await new Promise((r) => setImmediate(r));
      }
      assert.ok(waiting !== undefined, 'write() never said the link was behind');
      // Whoever else writes meanwhile waits on the same drain: no listener each.
      const listeners = writer.listenerCount('drain');
      for (let i = 0; i < 20; i++) assert.equal(link.write(announcement(sent++)), waiting);
      assert.equal(writer.listenerCount('drain'), listeners);
      let settled = false;
      void waiting.then(() => {
        settled = true;
      });
      await new Promise((r) => setImmediate(r));
      assert.equal(settled, false, 'settled while the peer reads nothing');
      reader.resume();
      await within(waiting, 'the drain after the peer reads');
    } finally {
      writer.destroy();
      reader.destroy();
    }
  });
});
