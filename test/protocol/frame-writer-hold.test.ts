/**
 * FrameWriter.hold(): kbusd lets a SENDMSG's response wait for the push
 * that is about to follow it, so that both reach the client in one write.
 * The frames must keep their order and the held one must still leave on
 * its own if nothing follows.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FrameWriter, type Transport, type TransportEvents } from '../../src/internal.js';
import { waitFor } from '../support/wait.js';

/** A transport that records each write's bytes. */
function recorder(): { transport: Transport; writes: Uint8Array[] } {
  const writes: Uint8Array[] = [];
  const transport: Transport = {
    attach: (_events: TransportEvents) => {},
    write: (bytes) => {
      writes.push(bytes.slice());
      return false;
    },
    backlog: 0,
    pause: () => {},
    resume: () => {},
    end: () => {},
    destroy: () => {},
    closed: false,
  };
  return { transport, writes };
}

/** The tags of the frames in one write, in order. */
function tags(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  for (let at = 0; at < bytes.length; at += 4 + view.getUint32(at, true))
    out.push(view.getUint32(at + 8, true));
  return out;
}

/** Lets the queued microtasks run (the writer's batch flush is one); no timer can fire meanwhile. */
async function microtasks(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

describe('FrameWriter.hold', () => {
  test('a held response leaves in one write with the frame that follows it, first', async () => {
    const { transport, writes } = recorder();
    const w = new FrameWriter(transport);
    w.idResponse(0x44, 7, 0, 1);
    w.hold();
    await microtasks();
    assert.equal(writes.length, 0);
    w.frame(0x81, [1, 2]);
    await microtasks();
    assert.deepEqual(writes.map(tags), [[7, 0]]);
  });

  test('a held response leaves by itself when nothing follows', async () => {
    const { transport, writes } = recorder();
    const w = new FrameWriter(transport);
    w.idResponse(0x44, 9, 0, 1);
    w.hold();
    await waitFor(() => writes.length === 1, 'the held response to leave');
    assert.deepEqual(writes.map(tags), [[9]]);
  });

  test('flush() sends a held response at once', async () => {
    const { transport, writes } = recorder();
    const w = new FrameWriter(transport);
    w.idResponse(0x44, 3, 0, 1);
    w.hold();
    w.flush();
    assert.deepEqual(writes.map(tags), [[3]]);
    await microtasks();
    assert.equal(writes.length, 1);
  });
});
