/**
 * kbusd pushes a streaming listener's copy the moment it is sent when
 * nothing is queued ahead of it. The order on the wire stays what queueing
 * gives: a Ksock's copy of its own message comes after its SENDMSG's
 * response, and a send let through by taking a message off a full queue
 * (ALL_OR_WAIT) comes after that message.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Errno, encodeMessage, Flags, makeMessage, Op } from '../../src/internal.js';
import { type RunningDaemon, startDaemon } from '../support/daemon.js';
import { RawConnection } from './helpers.js';

const text = (frame: { payload: Uint8Array }) =>
  Buffer.from(frame.payload.subarray(64 + 12, 64 + 12 + 6)).toString('latin1');

function message(name: string, data: string, flags = 0): Uint8Array {
  return encodeMessage(makeMessage({ name, flags, data: new TextEncoder().encode(data) }));
}

describe('kbusd: the order of pushes', () => {
  let daemon: RunningDaemon;
  before(async () => {
    daemon = await startDaemon();
  });
  after(async () => {
    assert.equal(await daemon.stop(), 0, daemon.stderr());
  });

  test("a Ksock's copy of its own message comes after its SENDMSG's response", async () => {
    const k = await RawConnection.open(daemon.socket);
    try {
      const name = Buffer.from('$.po.self', 'latin1');
      assert.equal((await k.request(Op.BIND, [0, name.length], name)).status, 0);
      assert.equal((await k.request(Op.STREAM, [10])).status, 0);
      for (let i = 0; i < 3; i++) {
        const sent = await k.request(Op.SENDMSG, [], message('$.po.self', `self-${i}`));
        assert.equal(sent.status, 0);
        const pushed = await k.next('the copy of its own message');
        assert.equal(pushed.op, Op.MESSAGE);
        assert.equal(pushed.tag, 0);
        assert.equal(text(pushed), `self-${i}`);
      }
    } finally {
      k.destroy();
    }
  });

  test('a waiting ALL_OR_WAIT send that a push lets through comes after the message pushed', async () => {
    const listener = await RawConnection.open(daemon.socket);
    const sender = await RawConnection.open(daemon.socket);
    try {
      const name = Buffer.from('$.po.wait', 'latin1');
      assert.equal((await listener.request(Op.MAXMSGS, [1])).word(0), 1);
      assert.equal((await listener.request(Op.BIND, [0, name.length], name)).status, 0);
      assert.equal(
        (await sender.request(Op.SENDMSG, [], message('$.po.wait', 'filler'))).status,
        0,
      );
      // The queue is full: the send waits (EAGAIN) until there is room.
      const waiting = await sender.request(
        Op.SENDMSG,
        [],
        message('$.po.wait', 'waited', Flags.ALL_OR_WAIT),
      );
      assert.equal(waiting.status, -Errno.EAGAIN);
      // Credit: the filler is pushed, which makes room, which lets the waiting send through.
      const granted = await listener.request(Op.STREAM, [10]);
      assert.equal(granted.status, 0);
      const first = await listener.next('the first push');
      const second = await listener.next('the second push');
      assert.deepEqual([first.op, second.op], [Op.MESSAGE, Op.MESSAGE]);
      assert.deepEqual([text(first), text(second)], ['filler', 'waited']);
    } finally {
      listener.destroy();
      sender.destroy();
    }
  });
});
