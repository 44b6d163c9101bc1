/**
 * The in-memory transport pair under the embedded bus: the same contract as
 * a socket (order, backpressure, end, destroy), never re-entering its caller.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { memoryTransportPair, type TransportEvents } from '../../src/internal.js';
import { waitFor } from '../support/wait.js';

interface Recorder extends TransportEvents {
  received: number[];
  drains: number;
  closes: (Error | undefined)[];
}

function recorder(): Recorder {
  const r: Recorder = {
    received: [],
    drains: 0,
    closes: [],
    data: (bytes) => r.received.push(...bytes),
    drain: () => r.drains++,
    close: (error) => r.closes.push(error),
  };
  return r;
}

describe('memoryTransportPair', () => {
  test('bytes arrive in order, later, not inside the write', async () => {
    const [a, b] = memoryTransportPair();
    const ra = recorder();
    const rb = recorder();
    a.attach(ra);
    b.attach(rb);
    assert.equal(a.write(Uint8Array.of(1, 2)), true, 'the peer gets the very bytes: held');
    a.write(Uint8Array.of(3));
    assert.deepEqual(rb.received, [], 'nothing is delivered inside write()');
    assert.equal(a.backlog, 3);
    await waitFor(() => rb.received.length === 3, 'delivery');
    assert.deepEqual(rb.received, [1, 2, 3]);
    assert.equal(a.backlog, 0);
  });

  test('a paused end receives nothing; the writer sees the backlog and a drain once it resumes', async () => {
    const [a, b] = memoryTransportPair();
    const ra = recorder();
    const rb = recorder();
    a.attach(ra);
    b.attach(rb);
    b.pause();
    a.write(new Uint8Array(64 * 1024));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(rb.received.length, 0);
    assert.equal(a.backlog, 64 * 1024);
    assert.equal(ra.drains, 0);
    b.resume();
    await waitFor(() => ra.drains === 1, 'the drain event');
    assert.equal(rb.received.length, 64 * 1024);
    assert.equal(a.backlog, 0);
  });

  test('end() delivers what was written, then closes both ends once', async () => {
    const [a, b] = memoryTransportPair();
    const ra = recorder();
    const rb = recorder();
    a.attach(ra);
    b.attach(rb);
    a.write(Uint8Array.of(9));
    a.end();
    assert.equal(a.closed, true);
    assert.equal(a.write(Uint8Array.of(10)), false, 'a write after end() is dropped');
    await waitFor(() => ra.closes.length === 1 && rb.closes.length === 1, 'both ends closing');
    assert.deepEqual(rb.received, [9]);
    assert.equal(b.closed, true);
  });

  test('destroy() closes both ends at once, dropping what was not delivered', async () => {
    const [a, b] = memoryTransportPair();
    const ra = recorder();
    const rb = recorder();
    a.attach(ra);
    b.attach(rb);
    b.pause();
    a.write(Uint8Array.of(1));
    const error = new Error('gone');
    a.destroy(error);
    await waitFor(() => ra.closes.length === 1 && rb.closes.length === 1, 'both ends closing');
    assert.equal(ra.closes[0], error);
    assert.equal(rb.closes[0], undefined);
    b.resume();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(rb.received, []);
  });
});
