/**
 * kbusd with a client that pipelines far more than one read holds
 * (docs/protocol.md, "Rules of a connection"): kbusd takes one read from
 * it per turn, stops reading it while its answers back up, and carries on
 * once it reads again, answering every request exactly once and in order.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import { encodeFrame, encodeMessage, FrameDecoder, makeMessage, Op } from '../../src/internal.js';
import { type RunningDaemon, startDaemon } from '../support/daemon.js';
import { waitFor, within } from './helpers.js';

const COUNT = 20_000;

describe('kbusd: a client pipelining thousands of sends', () => {
  let daemon: RunningDaemon;
  const closers: (() => unknown)[] = [];

  before(async () => {
    daemon = await startDaemon([], 30_000);
  });

  after(async () => {
    for (const close of closers.reverse()) await close();
    const code = await daemon?.stop();
    assert.equal(code, 0, `kbusd should stop cleanly; stderr: ${daemon.stderr()}`);
  });

  test('gets every answer in order, and its listener every message, even when it reads late', async () => {
    const listener = await Ksock.connect({ socket: daemon.socket });
    closers.push(() => listener.close());
    await listener.bind('$.pipe.line');
    await listener.maxMessages(COUNT);
    const seen: number[] = [];
    const listening = (async () => {
      for await (const m of listener) {
        seen.push(m.data[0]! | (m.data[1]! << 8) | (m.data[2]! << 16));
        if (seen.length === COUNT) return;
      }
    })();

    const sender: Socket = connect(daemon.socket);
    closers.push(() => sender.destroy());
    await within(
      new Promise<void>((resolve, reject) => {
        sender.once('connect', resolve);
        sender.once('error', reject);
      }),
      'the sender connection',
    );
    // Nothing is read from kbusd until the listener has heard the first
    // messages: by then kbusd is well into the pipeline, and its answers
    // (28 bytes each, more than the socket holds) back up.
    sender.pause();
    const frames: Uint8Array[] = [encodeFrame(Op.OPEN, 1, [1, 0, 3, process.pid])];
    const data = new Uint8Array(64);
    for (let i = 0; i < COUNT; i++) {
      data[0] = i & 0xff;
      data[1] = (i >> 8) & 0xff;
      data[2] = (i >> 16) & 0xff;
      const message = encodeMessage(makeMessage({ name: '$.pipe.line', data }));
      frames.push(encodeFrame(Op.SENDMSG, 2 + i, [], message));
    }
    frames.push(encodeFrame(Op.KSOCKID, 2 + COUNT, []));
    const pipeline = Buffer.concat(frames);
    assert.ok(pipeline.length > 40 * 65_536, 'the pipeline spans many reads');
    sender.write(pipeline);
    await waitFor(() => seen.length >= 100, 'the listener to hear the first messages', 30_000);

    // Now read every answer: OPEN, COUNT SENDMSGs with ascending ids, KSOCKID.
    const answers: { op: number; tag: number; status: number; serial: number }[] = [];
    const decoder = new FrameDecoder(1 << 20);
    const allAnswered = new Promise<void>((resolve, reject) => {
      sender.on('data', (chunk: Buffer) => {
        decoder.push(chunk, ({ op, tag, payload }) => {
          const view = Buffer.from(payload.buffer, payload.byteOffset, payload.length);
          answers.push({
            op,
            tag,
            status: view.readInt32LE(0),
            serial: op === Op.SENDMSG ? view.readUInt32LE(8) : 0,
          });
        });
        if (answers.length === COUNT + 2) resolve();
      });
      sender.once('close', () => reject(new Error(`closed after ${answers.length} answers`)));
    });
    sender.resume();
    await within(allAnswered, `${COUNT + 2} answers`, 60_000);
    await within(listening, `the listener's ${COUNT} messages`, 60_000);

    assert.deepEqual(answers[0], { op: Op.OPEN, tag: 1, status: 0, serial: 0 });
    for (let i = 0; i < COUNT; i++) {
      const a = answers[1 + i]!;
      if (a.op !== Op.SENDMSG || a.tag !== 2 + i || a.status !== 0 || a.serial !== i + 1) {
        assert.fail(`answer ${1 + i}: ${JSON.stringify(a)}`);
      }
    }
    assert.equal(answers[COUNT + 1]!.op, Op.KSOCKID);
    // Every message, once, in the order sent.
    for (let i = 0; i < COUNT; i++) {
      if (seen[i] !== i) assert.fail(`message ${i} was number ${seen[i]}`);
    }
  });
});
