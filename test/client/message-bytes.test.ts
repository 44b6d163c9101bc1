/**
 * The client's byte-level pair, for relays: Ksock.messageBytes() hands over
 * each pushed message as its entire bytes, in order, with ready() to wait
 * (true while messages come; false after close() or stop(); the
 * connection's loss once what had arrived is taken), keeping STREAM credit
 * for as long as it reads; Ksock.postEncoded() sends bytes that write
 * themselves, checked by the daemon as any SENDMSG, a failure reported
 * with the message's name.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConnectionLostError, Ksock } from '../../src/client/index.js';
import {
  decodeMessage,
  encodeMessage,
  Flags,
  KbusCaseMeaning,
  KbusError,
  type Message,
  makeMessage,
} from '../../src/wire/index.js';
import { type RunningDaemon, startDaemon } from '../support/daemon.js';
import { waitFor, within } from '../support/wait.js';

const WAIT = 10_000;
const text = (m: Message) => new TextDecoder().decode(m.data);

/** An EncodedOutgoing over bytes already encoded (little-endian). */
function encoded(message: Message) {
  const bytes = encodeMessage(message);
  return {
    name: message.name,
    length: bytes.length,
    writeTo: (target: Uint8Array, at: number) => target.set(bytes, at),
  };
}

describe('Ksock.messageBytes and Ksock.postEncoded', () => {
  let daemon: RunningDaemon;
  before(async () => {
    daemon = await startDaemon();
  });
  after(async () => {
    assert.equal(await daemon.stop(), 0, daemon.stderr());
  });

  test('each message arrives as its entire bytes, in order, more than one window of credit', async () => {
    const sender = await Ksock.connect(daemon.socket);
    const listener = await Ksock.connect(daemon.socket);
    try {
      // Room for the whole burst: the reader is what is under test, not the queue.
      await listener.maxMessages(30_000);
      await listener.bind('$.bytes.order');
      const reader = listener.messageBytes();
      // More than the 8,192 messages of credit an iterator keeps: the
      // reader must keep granting as it takes.
      const count = 20_000;
      const errors: Error[] = [];
      for (let i = 0; i < count; i++) {
        sender.post({ name: '$.bytes.order', data: `m${i}` }, (err) => errors.push(err));
      }
      const last = await sender.announce('$.bytes.order', 'last');
      const got: Message[] = [];
      while (got.length <= count && (await within(reader.ready(), 'a message', WAIT))) {
        for (let bytes = reader.take(); bytes !== undefined; bytes = reader.take()) {
          got.push(decodeMessage(bytes));
        }
      }
      assert.deepEqual(errors, []);
      assert.equal(got.length, count + 1);
      for (let i = 0; i < count; i++) assert.equal(text(got[i]!), `m${i}`, `message ${i}`);
      const final = got[count]!;
      assert.equal(text(final), 'last');
      // The bytes are the message as kbusd pushed it: its id and sender stamped in.
      assert.deepEqual(final.id, last);
      assert.equal(final.from, sender.id);
      reader.stop();
    } finally {
      await sender.close();
      await listener.close();
    }
  });

  test('ready() is false after stop() and after close(), and true at once while one waits', async () => {
    const k = await Ksock.connect(daemon.socket);
    await k.bind('$.bytes.ready');
    const first = k.messageBytes();
    // Waiting, then stopped: the wait ends with false.
    const waiting = first.ready();
    first.stop();
    assert.equal(await within(waiting, 'ready() after stop()', WAIT), false);
    const reader = k.messageBytes();
    await k.announce('$.bytes.ready', 'one');
    assert.equal(await within(reader.ready(), 'ready() with a message', WAIT), true);
    assert.equal(await reader.ready(), true, 'still true: nothing was taken');
    const bytes = reader.take();
    assert.ok(bytes);
    assert.equal(text(decodeMessage(bytes)), 'one');
    assert.equal(reader.take(), undefined);
    const closing = reader.ready();
    await k.close();
    assert.equal(await within(closing, 'ready() after close()', WAIT), false);
  });

  test('a lost connection: what had arrived is taken first, then ready() rejects', async () => {
    const own = await startDaemon();
    const k = await Ksock.connect(own.socket);
    try {
      await k.bind('$.bytes.lost');
      const reader = k.messageBytes();
      // Waiting grants STREAM credit, ahead of the sends on the connection.
      const first = reader.ready();
      await k.announce('$.bytes.lost', 'before');
      await k.announce('$.bytes.lost', 'and this');
      assert.equal(await within(first, 'the first message', WAIT), true);
      // Pushes come before a later answer on the connection: once NUMMSGS
      // is answered, both messages have arrived.
      assert.equal(await k.numMessages(), 0);
      own.process.kill('SIGKILL');
      await waitFor(() => k.closed, 'the connection to go', WAIT);
      const got: string[] = [];
      for (let bytes = reader.take(); bytes !== undefined; bytes = reader.take()) {
        got.push(text(decodeMessage(bytes)));
      }
      assert.deepEqual(got, ['before', 'and this']);
      await assert.rejects(reader.ready(), ConnectionLostError);
    } finally {
      await own.stop();
    }
  });

  test('postEncoded() sends the bytes as written, stamped by the daemon as any send', async () => {
    const sender = await Ksock.connect(daemon.socket);
    const listener = await Ksock.connect(daemon.socket);
    try {
      await listener.bind('$.bytes.posted');
      const errors: Error[] = [];
      const message = makeMessage({
        name: '$.bytes.posted',
        data: new TextEncoder().encode('raw'),
        flags: Flags.URGENT | 0x12340000,
        origFrom: { networkId: 7, localId: 9 },
      });
      sender.postEncoded(encoded(message), (err) => errors.push(err));
      const got = await listener.receive({ timeout: WAIT });
      assert.equal(text(got), 'raw');
      assert.equal(got.flags, Flags.URGENT | 0x12340000);
      assert.deepEqual(got.origFrom, { networkId: 7, localId: 9 });
      assert.equal(got.from, sender.id);
      assert.equal(got.id.networkId, 0);
      assert.ok(got.id.serialNum > 0);
      assert.deepEqual(errors, []);
    } finally {
      await sender.close();
      await listener.close();
    }
  });

  test('a postEncoded() the daemon refuses reaches onError with its errno and name; the Ksock carries on', async () => {
    const k = await Ksock.connect(daemon.socket);
    try {
      const failed = new Promise<Error>((resolve) => {
        // A request nobody answers: EADDRNOTAVAIL (Kbus.txt "Error numbers").
        const request = makeMessage({ name: '$.bytes.nobody', flags: Flags.WANT_A_REPLY });
        k.postEncoded(encoded(request), resolve);
      });
      const err = await within(failed, 'the posted request to fail', WAIT);
      assert.ok(err instanceof KbusError, String(err));
      assert.equal(err.code, 'EADDRNOTAVAIL');
      assert.match(err.message, /\$\.bytes\.nobody/);
      // A name the daemon refuses: EBADMSG, explained as a bad name.
      const badName = new Promise<Error>((resolve) => {
        k.postEncoded(encoded(makeMessage({ name: '$.bytes.bad name' })), resolve);
      });
      const nameErr = await within(badName, 'the bad name to fail', WAIT);
      assert.ok(nameErr instanceof KbusError, String(nameErr));
      assert.equal(nameErr.code, 'EBADMSG');
      assert.match(nameErr.message, /bad name/);
      // Bytes that are no message: EINVAL, said to be the bytes' fault.
      const malformed = new Promise<Error>((resolve) => {
        k.postEncoded(
          { name: '$.bytes.malformed', length: 20, writeTo: (t, at) => t.fill(0, at, at + 20) },
          resolve,
        );
      });
      const bytesErr = await within(malformed, 'the malformed bytes to fail', WAIT);
      assert.ok(bytesErr instanceof KbusError, String(bytesErr));
      assert.equal(bytesErr.code, 'EINVAL');
      assert.equal(bytesErr.kbusMeaning, KbusCaseMeaning.MALFORMED_MESSAGE);
      await k.bind('$.bytes.after');
      await k.announce('$.bytes.after');
      assert.equal((await k.receive({ timeout: WAIT })).name, '$.bytes.after');
    } finally {
      await k.close();
    }
  });

  test('postEncoded() on a closed Ksock calls onError at once with EBADF, writing nothing', async () => {
    const k = await Ksock.connect(daemon.socket);
    await k.close();
    let err: Error | undefined;
    let written = false;
    k.postEncoded(
      {
        name: '$.bytes.closed',
        length: 80,
        writeTo: () => {
          written = true;
        },
      },
      (e) => {
        err = e;
      },
    );
    assert.ok(err instanceof KbusError, String(err));
    assert.equal(err.code, 'EBADF');
    assert.equal(written, false);
  });
});
