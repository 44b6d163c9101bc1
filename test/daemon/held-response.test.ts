/**
 * kbusd may hold a SENDMSG's response back for a moment, so that it leaves
 * in one write with the push that follows (docs/performance.md). However
 * the connection ends, the client still gets every response to what it
 * sent, in order, before the end: when it ends its side right after its
 * last SENDMSG (over a socket or in process), and when the daemon stops.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import { Daemon } from '../../src/daemon/index.js';
import { Engine } from '../../src/engine/index.js';
import {
  encodeFrame,
  encodeMessage,
  engineTransport,
  Flags,
  FrameDecoder,
  HeaderOffset,
  makeMessage,
  Op,
  readU32LE,
} from '../../src/internal.js';
import { type RunningDaemon, startDaemon, tempDir } from '../support/daemon.js';
import { waitFor, within } from '../support/wait.js';

interface Answer {
  op: number;
  tag: number;
  status: number;
}

function answer(op: number, tag: number, payload: Uint8Array): Answer {
  return { op, tag, status: payload.length >= 4 ? readU32LE(payload, 0) | 0 : Number.NaN };
}

const open = () => encodeFrame(Op.OPEN, 1, [1, 0, 3, process.pid]);
const stream = () => encodeFrame(Op.STREAM, 2, [4]);
const request = (name: string) =>
  encodeFrame(
    Op.SENDMSG,
    3,
    [],
    encodeMessage(makeMessage({ name, flags: Flags.WANT_A_REPLY, data: Uint8Array.of(1, 2, 3) })),
  );
/** What a client that streams and then sends one request is owed, in order. */
const OWED: Answer[] = [
  { op: Op.OPEN, tag: 1, status: 0 },
  { op: Op.STREAM, tag: 2, status: 0 },
  { op: Op.SENDMSG, tag: 3, status: 0 },
];

/**
 * Connects, writes `bytes` (ending the connection at once if `end`), and
 * resolves with every frame received before the connection closed.
 */
function exchange(path: string, bytes: Uint8Array, end: boolean): Promise<Answer[]> {
  return new Promise((resolve, reject) => {
    const frames: Answer[] = [];
    const decoder = new FrameDecoder(1 << 20);
    const socket = connect(path, () => {
      if (end) socket.end(bytes);
      else socket.write(bytes);
    });
    socket.on('data', (chunk: Buffer) =>
      decoder.push(chunk, ({ op, tag, payload }) => frames.push(answer(op, tag, payload))),
    );
    socket.on('error', reject);
    socket.on('close', () => resolve(frames));
  });
}

describe('kbusd: a held response is never lost', () => {
  let daemon: RunningDaemon;
  let replier: Ksock;
  before(async () => {
    daemon = await startDaemon();
    // A replier that never reads: no reply comes to release a held response.
    replier = await Ksock.connect({ socket: daemon.socket });
    await replier.bind('$.held.Silent', { replier: true });
  });
  after(async () => {
    await replier.close();
    assert.equal(await daemon.stop(), 0);
  });

  test('a client that sends a request and ends its side at once gets its response before the end', async () => {
    const bytes = Buffer.concat([open(), stream(), request('$.held.Silent')]);
    const frames = await within(exchange(daemon.socket, bytes, true), 'the exchange');
    assert.deepEqual(frames, OWED);
    await waitFor(async () => (await replier.numMessages()) === 1, 'the request to be queued');
  });

  test('a replier that sends its reply and ends its side at once gets its response before the end', async () => {
    const path = daemon.socket;
    await using requester = await Ksock.connect({ socket: path });
    // A raw replier: OPEN, STREAM, BIND; then the request is pushed to it.
    const frames: Answer[] = [];
    let pushed: Uint8Array | undefined;
    const decoder = new FrameDecoder(1 << 20);
    const socket = connect(path);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) =>
      decoder.push(chunk, ({ op, tag, payload }) => {
        if (op === Op.MESSAGE) pushed = payload.slice();
        else frames.push(answer(op, tag, payload));
      }),
    );
    const name = new TextEncoder().encode('$.held.Replier');
    const padded = new Uint8Array(Math.ceil(name.length / 4) * 4);
    padded.set(name);
    socket.write(
      Buffer.concat([open(), stream(), encodeFrame(Op.BIND, 3, [1, name.length], padded)]),
    );
    await waitFor(() => frames.length === 3, 'OPEN, STREAM and BIND to be answered');
    const answered = requester.request('$.held.Replier', 'ping', { timeout: 10_000 });
    await waitFor(() => pushed !== undefined, 'the request to be pushed to the replier');
    const req = pushed!;
    const reply = makeMessage({
      name: '$.held.Replier',
      to: readU32LE(req, HeaderOffset.FROM),
      inReplyTo: {
        networkId: readU32LE(req, HeaderOffset.ID_NETWORK),
        serialNum: readU32LE(req, HeaderOffset.ID_SERIAL),
      },
      data: Uint8Array.of(7),
    });
    socket.end(encodeFrame(Op.SENDMSG, 4, [], encodeMessage(reply)));
    await within(closed, 'kbusd to end the connection');
    assert.deepEqual(frames.slice(3), [{ op: Op.SENDMSG, tag: 4, status: 0 }]);
    const got = await within(answered, 'the reply');
    assert.equal(got.kind, 'reply');
  });
});

test('in process: a client that sends a request and ends at once gets its response first', async () => {
  const engine = new Engine();
  const replier = engine.open(0, 3, 0);
  replier.bind('$.held.Embedded', true);
  const transport = engineTransport(engine);
  const frames: Answer[] = [];
  const decoder = new FrameDecoder(1 << 20);
  const closed = new Promise<void>((resolve) =>
    transport.attach({
      data: (bytes) =>
        decoder.push(bytes, ({ op, tag, payload }) => frames.push(answer(op, tag, payload))),
      drain: () => {},
      close: () => resolve(),
    }),
  );
  transport.write(Buffer.concat([open(), stream(), request('$.held.Embedded')]));
  transport.end();
  await within(closed, 'the connection to close');
  assert.deepEqual(frames, OWED);
  assert.equal(replier.numMessages(), 1);
});

test('a daemon that stops while a response is held sends it before dropping the client', async () => {
  const dir = tempDir('kbus-held-');
  const daemon = new Daemon({ socket: join(dir.path, 'kbus.sock') });
  await daemon.start();
  try {
    // The replier, a Ksock of the daemon's own engine, stops the daemon as
    // soon as the request reaches it: after the request's response was
    // written (and held), before the hold could end by itself (setImmediate
    // runs before the next turn's timers).
    const replier = daemon.engine.open(0, 3, 0);
    replier.bind('$.held.Stop', true);
    let stopping: Promise<void> | undefined;
    replier.onReady = () => {
      setImmediate(() => {
        stopping ??= daemon.close();
      });
    };
    const bytes = Buffer.concat([open(), stream(), request('$.held.Stop')]);
    const frames = await within(exchange(daemon.socket, bytes, false), 'the exchange');
    assert.ok(stopping, 'the daemon stopped');
    await stopping;
    assert.deepEqual(frames, OWED);
  } finally {
    await daemon.close();
    dir.remove();
  }
});
