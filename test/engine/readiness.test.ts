/**
 * Readiness: poll and the onReady callback (Kbus.txt "Select, write/send and
 * "next message", blocking"; protocol.md POLL).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Engine, type EngineKsock as Ksock, OpenMode, Poll } from './api.js';

const POLLIN = 0x1;
const POLLOUT = 0x4;

describe('poll', () => {
  // protocol.md "Frames": POLLIN 0x1, POLLOUT 0x4.
  test('the poll bits are POLLIN 0x1 and POLLOUT 0x4', () => {
    assert.equal(Poll.IN, POLLIN);
    assert.equal(Poll.OUT, POLLOUT);
  });

  // Kbus.txt "Select, write/send ...": "select for the write case checks
  // whether it is allowed to call "write"" (the example: a read-write
  // sender and listener2 are writable, the read-only listener1 is not).
  test('an idle read-write Ksock is writable only; a read-only one is neither', () => {
    const engine = new Engine();
    assert.equal(engine.open(0, OpenMode.READ_WRITE).poll(), POLLOUT);
    assert.equal(engine.open(0, OpenMode.WRITE).poll(), POLLOUT);
    assert.equal(engine.open(0, OpenMode.READ).poll(), 0);
  });

  // Kbus.txt "Select, write/send ...": select for reading "simply checks if
  // there is a message in the Ksock's message list, waiting to be "popped"
  // with NEXTMSG".
  test('POLLIN is set only while a message is queued', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const reader = engine.open(0, OpenMode.READ);
    const both = engine.open(0);
    reader.bind('$.Fred');
    both.bind('$.Fred');
    assert.equal(reader.poll(), 0);
    assert.equal(both.poll(), POLLOUT);
    sender.sendMessage({ name: '$.Fred' });
    sender.sendMessage({ name: '$.Fred' });
    assert.equal(reader.poll(), POLLIN);
    assert.equal(both.poll(), POLLIN | POLLOUT);
    assert.equal(sender.poll(), POLLOUT);
    reader.nextMsg();
    assert.equal(reader.poll(), POLLIN);
    // The popped message, even unread, is no longer in the queue.
    reader.nextMsg();
    assert.ok(reader.lenLeft() > 0);
    assert.equal(reader.poll(), 0);
    both.nextMessages(10, 1 << 20);
    assert.equal(both.poll(), POLLOUT);
  });

  // Kbus.txt "Select, write/send ...": "(r,w,x) = select.select([listener],
  // [],[],0); assert r == []" before the send, "assert r == [listener]"
  // after it; binding alone does not make a Ksock readable.
  test('the Kbus.txt select example: the listener becomes readable after the send', () => {
    const engine = new Engine();
    const sender = engine.open(0, OpenMode.READ_WRITE);
    const listener = engine.open(0, OpenMode.READ);
    assert.equal(listener.poll() & POLLIN, 0);
    listener.bind('$.Fred');
    assert.equal(listener.poll() & POLLIN, 0);
    sender.sendMessage({ name: '$.Fred', data: new TextEncoder().encode('data') });
    assert.equal(listener.poll() & POLLIN, POLLIN);
  });
});

describe('onReady', () => {
  // protocol.md POLL: the Ksock is told when it becomes readable (the
  // engine's onReady stands for the EVENT frame).
  test('onReady is called with the Ksock after a message arrives, and not for others', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const listener = engine.open(0, OpenMode.READ);
    const bystander = engine.open(0, OpenMode.READ);
    listener.bind('$.Fred');
    bystander.bind('$.Jim');
    const calls: Ksock[] = [];
    listener.onReady = (k) => calls.push(k);
    bystander.onReady = (k) => calls.push(k);
    sender.onReady = (k) => calls.push(k);
    sender.sendMessage({ name: '$.Fred' });
    assert.deepEqual(calls, [listener]);
  });

  // protocol.md POLL: when onReady runs the message is already queued
  // (POLLIN holds), so the callback may read it.
  test('when onReady runs, the message is there to read', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const listener = engine.open(0, OpenMode.READ);
    listener.bind('$.Fred');
    const seen: string[] = [];
    listener.onReady = (k) => {
      assert.equal(k.poll() & POLLIN, POLLIN);
      seen.push(k.nextMessage()?.name ?? 'none');
    };
    sender.sendMessage({ name: '$.Fred' });
    assert.deepEqual(seen, ['$.Fred']);
    assert.equal(listener.numMessages(), 0);
  });

  // protocol.md POLL: each arrival readies the Ksock again.
  test('onReady is called again for each later arrival', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const listener = engine.open(0, OpenMode.READ);
    listener.bind('$.Fred');
    let count = 0;
    listener.onReady = () => {
      count++;
    };
    sender.sendMessage({ name: '$.Fred' });
    sender.sendMessage({ name: '$.Fred' });
    sender.sendMessage({ name: '$.Fred' });
    assert.equal(count, 3);
    assert.equal(listener.numMessages(), 3);
  });

  // Kbus.txt "Requests and Replies": a status message is a message arriving
  // like any other.
  test('onReady is called when a status message arrives for a sender', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const replier = engine.open(0);
    replier.bind('$.Req', true);
    sender.sendMessage({ name: '$.Req', flags: 1 });
    let readied = 0;
    sender.onReady = () => {
      readied++;
    };
    replier.close();
    assert.equal(readied, 1);
    assert.equal(sender.nextMessage()?.name, '$.KBUS.Replier.GoneAway');
  });
});
