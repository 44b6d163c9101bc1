/**
 * Byte budgets: a queue is full when it holds MAXMSGS messages or when what
 * it holds has reached its byte budget (or the engine's overall budget is
 * spent), and a queue full by bytes has every consequence Kbus.txt "Queues
 * filling up" gives a full queue (protocol.md "Notes").
 */
import assert from 'node:assert/strict';
import { totalmem } from 'node:os';
import { describe, test } from 'node:test';
import {
  DEFAULT_MAX_QUEUE_BYTES,
  Engine,
  type EngineOptions,
  encodeMessage,
  entireMessageLength,
  Flags,
  type EngineKsock as Ksock,
  MessageNames,
  OpenMode,
} from './api.js';
import { drain, next, sendReply, sendRequest, throwsCode } from './support.js';

const POLLOUT = 0x4;
const DATA = new Uint8Array(100);
/** The entire length of a message named `name` carrying DATA. */
const sized = (name: string) => entireMessageLength(name.length, DATA.length);
/** Budget for the tests: two messages of DATA reach it, one does not. */
const BUDGET = 300;

/** An engine whose queues are limited by bytes only (MAXMSGS far above what the tests queue). */
function engineWith(options: EngineOptions = {}): Engine {
  return new Engine({ maxMessages: 1000, maxQueueBytes: BUDGET, ...options });
}

function announce(sender: Ksock, name: string, flags = 0): void {
  sender.sendMessage({ name, data: DATA, flags });
}

/** A listener to `name` whose queue is full by bytes (and far from MAXMSGS). */
function byteFullListener(engine: Engine, sender: Ksock, name: string, device = 0): Ksock {
  const listener = engine.open(device, OpenMode.READ);
  listener.bind(name);
  while (!listener.isFull(false)) announce(sender, name);
  assert.ok(listener.numMessages() < listener.setMaxMessages(), 'full by bytes, not by count');
  return listener;
}

/** Bytes the entries of `ksock`'s queue add up to, counted afresh. */
function heldBytes(ksock: Ksock): number {
  let total = 0;
  for (const item of ksock.queuedItems()) total += item.length;
  return total;
}

/** The byte counters agree with the queues they count. */
function assertCounted(engine: Engine, ksocks: readonly Ksock[]): void {
  let total = 0;
  for (const ksock of ksocks) {
    const held = ksock.closed ? 0 : heldBytes(ksock);
    assert.equal(ksock.queuedBytes, held, `Ksock ${ksock.id} bytes`);
    total += held;
  }
  assert.equal(engine.queuedBytes, total, 'engine bytes');
}

describe('byte budget options', () => {
  test('default to 64 MiB per Ksock and the smaller of 1 GiB and a quarter of memory', () => {
    const { options } = new Engine();
    assert.equal(DEFAULT_MAX_QUEUE_BYTES, 64 * 2 ** 20);
    assert.equal(options.maxQueueBytes, DEFAULT_MAX_QUEUE_BYTES);
    assert.equal(options.maxTotalQueueBytes, Math.min(2 ** 30, Math.floor(totalmem() / 4)));
  });

  test('must be whole numbers above 0', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 53]) {
      assert.throws(() => new Engine({ maxQueueBytes: bad }), RangeError);
      assert.throws(() => new Engine({ maxTotalQueueBytes: bad }), RangeError);
    }
    assert.equal(new Engine({ maxTotalQueueBytes: 1 }).options.maxTotalQueueBytes, 1);
  });
});

describe('a queue full by bytes (Kbus.txt "Queues filling up")', () => {
  test('is full once what it holds reaches the budget, which it passes by one message at most', () => {
    const engine = engineWith();
    const sender = engine.open(0);
    const listener = byteFullListener(engine, sender, '$.B');
    // 172 bytes each: one message is under 300, two are past it.
    assert.equal(sized('$.B'), 172);
    assert.equal(listener.numMessages(), 2);
    assert.equal(listener.queuedBytes, 2 * sized('$.B'));
  });

  test('a listener misses the message; the send succeeds', () => {
    const engine = engineWith();
    const sender = engine.open(0);
    const full = byteFullListener(engine, sender, '$.B');
    const other = engine.open(0, OpenMode.READ);
    other.bind('$.B');
    const before = full.numMessages();
    announce(sender, '$.B');
    assert.equal(full.numMessages(), before);
    assert.equal(other.numMessages(), 1);
  });

  test('a replier with a full queue makes the Request EBUSY (its id is set)', () => {
    const engine = engineWith();
    const sender = engine.open(0);
    const replier = engine.open(0);
    replier.bind('$.R', true);
    replier.bind('$.Fill');
    while (!replier.isFull(false)) announce(sender, '$.Fill');
    const asker = engine.open(0);
    const last = asker.lastSent().serialNum;
    throwsCode(() => sendRequest(asker, '$.R'), 'EBUSY');
    assert.notEqual(asker.lastSent().serialNum, last);
    assert.equal(asker.unrepliedTo(), 0);
  });

  test('ALL_OR_FAIL is EBUSY and reaches no listener', () => {
    const engine = engineWith();
    const sender = engine.open(0);
    const other = engine.open(0, OpenMode.READ);
    other.bind('$.B');
    byteFullListener(engine, sender, '$.B');
    drain(other);
    throwsCode(() => announce(sender, '$.B', Flags.ALL_OR_FAIL), 'EBUSY');
    assert.equal(other.numMessages(), 0);
  });

  test('ALL_OR_WAIT is EAGAIN, then completes when reading the queue frees bytes', () => {
    const engine = engineWith();
    const sender = engine.open(0);
    const listener = byteFullListener(engine, sender, '$.B');
    const held = listener.numMessages();
    throwsCode(() => announce(sender, '$.B', Flags.ALL_OR_WAIT), 'EAGAIN');
    assert.equal(sender.poll() & POLLOUT, 0, 'the send is pending');
    const waiting = sender.lastSent();
    next(listener);
    assert.equal(sender.poll() & POLLOUT, POLLOUT, 'the send finished');
    const got = drain(listener);
    assert.equal(got.length, held);
    assert.deepEqual(got.at(-1)!.id, waiting);
  });

  test('a Request whose sender has a full queue is ENOLCK, with no id', () => {
    const engine = engineWith();
    const other = engine.open(0);
    const replier = engine.open(0);
    replier.bind('$.R', true);
    const sender = engine.open(0);
    sender.bind('$.B');
    while (!sender.isFull(false)) announce(other, '$.B');
    const last = sender.lastSent();
    throwsCode(() => sendRequest(sender, '$.R'), 'ENOLCK');
    assert.deepEqual(sender.lastSent(), last);
    assert.equal(replier.numMessages(), 0);
  });
});

describe('replies and status messages', () => {
  /** A requester whose request `$.R` the replier has read, then whose queue fills by bytes. */
  function awaitingReply(options: EngineOptions = {}) {
    const engine = engineWith(options);
    const other = engine.open(0);
    const replier = engine.open(0);
    replier.bind('$.R', true);
    const requester = engine.open(0);
    requester.bind('$.B');
    sendRequest(requester, '$.R');
    const request = next(replier);
    return { engine, other, replier, requester, request };
  }

  test('a Reply the recipient awaits takes its reserved room: the Ksock budget does not refuse it', () => {
    const { engine, other, replier, requester, request } = awaitingReply();
    while (!requester.isFull(false)) announce(other, '$.B');
    const before = requester.numMessages();
    sendReply(replier, request, { data: DATA });
    assert.equal(requester.numMessages(), before + 1);
    assert.ok(requester.queuedBytes > BUDGET);
    assert.equal(drain(requester).at(-1)!.name, '$.R');
    assertCounted(engine, [other, replier, requester]);
  });

  test('the overall budget refuses a Reply (EBUSY); the request stays owed and gets Ignored', () => {
    const { engine, other, replier, requester, request } = awaitingReply({
      maxQueueBytes: 10_000,
      maxTotalQueueBytes: BUDGET,
    });
    while (engine.queuedBytes < BUDGET) announce(other, '$.B');
    throwsCode(() => sendReply(replier, request), 'EBUSY');
    assert.equal(replier.unrepliedTo(), 1);
    // Status messages are pushed with no room check.
    replier.close();
    const got = drain(requester);
    assert.equal(got.at(-1)!.name, MessageNames.REPLIER_IGNORED);
    assertCounted(engine, [other, replier, requester]);
  });

  test('GoneAway reaches a requester while the overall budget is spent', () => {
    const engine = engineWith({ maxQueueBytes: 10_000, maxTotalQueueBytes: BUDGET });
    const replier = engine.open(0);
    replier.bind('$.R', true);
    const requester = engine.open(0);
    sendRequest(requester, '$.R', { data: DATA });
    const listener = engine.open(0, OpenMode.READ);
    listener.bind('$.B');
    while (engine.queuedBytes < BUDGET) announce(requester, '$.B');
    replier.close();
    assert.equal(next(requester).name, MessageNames.REPLIER_GONEAWAY);
    assertCounted(engine, [replier, requester, listener]);
  });
});

describe('the overall budget', () => {
  test('once spent, every queue of every device is full', () => {
    const engine = engineWith({ devices: 2, maxQueueBytes: 10_000, maxTotalQueueBytes: BUDGET });
    const sender0 = engine.open(0);
    byteFullListener(engine, sender0, '$.B');
    assert.ok(engine.queuedBytes >= BUDGET);
    const sender1 = engine.open(1);
    const listener1 = engine.open(1, OpenMode.READ);
    listener1.bind('$.B');
    const replier1 = engine.open(1);
    replier1.bind('$.R', true);
    assert.equal(listener1.queuedBytes, 0);
    announce(sender1, '$.B');
    assert.equal(listener1.numMessages(), 0, 'the listener misses it');
    throwsCode(() => announce(sender1, '$.B', Flags.ALL_OR_FAIL), 'EBUSY');
    throwsCode(() => sendRequest(sender1, '$.R'), 'ENOLCK');
  });

  test('an ALL_OR_WAIT send pending on device 1 completes when bytes are freed on device 0', () => {
    const engine = engineWith({ devices: 2, maxQueueBytes: 10_000, maxTotalQueueBytes: BUDGET });
    const sender0 = engine.open(0);
    const listener0 = byteFullListener(engine, sender0, '$.B');
    const sender1 = engine.open(1);
    const listener1 = engine.open(1, OpenMode.READ);
    listener1.bind('$.B');
    throwsCode(() => announce(sender1, '$.B', Flags.ALL_OR_WAIT), 'EAGAIN');
    assert.equal(listener1.numMessages(), 0);
    drain(listener0);
    assert.equal(sender1.poll() & POLLOUT, POLLOUT, 'the send finished');
    assert.equal(next(listener1).name, '$.B');
    assertCounted(engine, [sender0, listener0, sender1, listener1]);
  });
});

describe('the byte counts stay exact', () => {
  test('through push, NEXTMSG, NEXTREAD, NEXTREADS, UNBIND, URGENT and close', () => {
    const engine = new Engine({ devices: 2 });
    const sender = engine.open(0);
    const a = engine.open(0);
    const b = engine.open(0);
    const c = engine.open(1);
    const all = [sender, a, b, c];
    a.bind('$.A');
    a.bind('$.*');
    b.bind('$.A');
    c.bind('$.C');
    for (let i = 0; i < 5; i++) {
      sender.sendMessage({ name: '$.A', data: new Uint8Array(i * 37) });
      sender.sendBytes(encodeMessage({ name: '$.A.b', data: new Uint8Array(3 + i) }));
      engine.open(1).sendMessage({ name: '$.C', data: new Uint8Array(i), flags: Flags.URGENT });
    }
    assertCounted(engine, all);
    assert.ok(engine.queuedBytes > 0);
    a.nextMsg();
    a.read(10);
    a.nextMessage();
    a.nextMessages(2, 1 << 20);
    a.nextQueued();
    assertCounted(engine, all);
    // UNBIND removes what that binding brought.
    a.unbind('$.*');
    assertCounted(engine, all);
    b.close();
    assertCounted(engine, all);
    drain(c);
    drain(a);
    assertCounted(engine, all);
    assert.equal(engine.queuedBytes, 0);
  });

  test('through status messages and set-aside unbind events moved in', () => {
    const engine = new Engine();
    const watcher = engine.open(0);
    watcher.reportReplierBinds(true);
    watcher.bind(MessageNames.REPLIER_BIND_EVENT);
    const replier = engine.open(0);
    replier.bind('$.R', true);
    const requester = engine.open(0);
    sendRequest(requester, '$.R', { data: DATA });
    // The watcher's queue is full (1 message): the unbind event is set aside.
    watcher.setMaxMessages(1);
    const all = [watcher, replier, requester];
    replier.close();
    assertCounted(engine, all);
    assert.equal(watcher.numMessages(), 2, 'one queued, one set aside');
    assert.equal(next(requester).name, MessageNames.REPLIER_GONEAWAY);
    next(watcher);
    assertCounted(engine, all);
    assert.equal(watcher.queued, 1, 'the set-aside event moved into the queue');
    drain(watcher);
    assertCounted(engine, all);
    assert.equal(engine.queuedBytes, 0);
  });
});

describe('what a message sent whole keeps alive (sendBytes with adopt, compactQueues)', () => {
  /** A message inside a larger buffer, as one frame among many in a socket read. */
  function inChunk(name: string, data = DATA, flags = 0): Uint8Array {
    const message = encodeMessage({ name, data, flags });
    const chunk = new Uint8Array(64 * 1024);
    chunk.set(message, 1000);
    return chunk.subarray(1000, 1000 + message.length);
  }

  function keptOf(ksock: Ksock): Uint8Array[] {
    return [...ksock.queuedItems()].map((item) => {
      assert.ok(item.encoded !== undefined);
      return item.encoded;
    });
  }

  test('SENDMSG keeps the bytes it is given, with no copy', () => {
    const engine = new Engine();
    const listener = engine.open(0);
    listener.bind('$.Adopt');
    const view = inChunk('$.Adopt');
    engine.open(0).sendBytes(view, true);
    assert.equal(keptOf(listener)[0]!.buffer, view.buffer);
  });

  test('a queued message that is a small part of a larger buffer gets bytes of its own, once', () => {
    const engine = new Engine();
    const a = engine.open(0);
    const b = engine.open(0);
    a.bind('$.Adopt');
    b.bind('$.Adopt');
    const view = inChunk('$.Adopt');
    const expected = view.slice();
    engine.open(0).sendBytes(view, true);
    assert.equal(engine.compactQueues(), 2, 'both queued copies compacted');
    const [keptA] = keptOf(a);
    const [keptB] = keptOf(b);
    assert.equal(keptA!.buffer.byteLength, keptA!.length, 'the bytes own their buffer');
    assert.equal(keptA, keptB, 'the copies of one message share one set of bytes still');
    assert.notEqual(keptA!.buffer, view.buffer);
    // What it keeps is the message as sent (KBUS's changes included), and reads the same.
    view.fill(0);
    assert.deepEqual(keptA!.subarray(64), expected.subarray(64));
    assert.equal(next(a).name, '$.Adopt');
    assert.deepEqual([...next(b).data], [...DATA]);
    assert.equal(engine.compactQueues(), 0, 'nothing left to do');
  });

  test('compaction looks at each entry once, and finds those queued since at either end', () => {
    const engine = new Engine();
    const listener = engine.open(0);
    listener.bind('$.Adopt');
    const sender = engine.open(0);
    sender.sendBytes(inChunk('$.Adopt'), true);
    assert.equal(engine.compactQueues(), 1);
    assert.equal(engine.compactQueues(), 0);
    sender.sendBytes(inChunk('$.Adopt'), true);
    sender.sendBytes(inChunk('$.Adopt', DATA, Flags.URGENT), true);
    assert.equal(
      engine.compactQueues(),
      2,
      'the new one at the back and the URGENT one at the front',
    );
    for (const kept of keptOf(listener)) assert.equal(kept.buffer.byteLength, kept.length);
    assert.equal(drain(listener).length, 3);
  });

  test('a message that is most of its buffer is left as it is', () => {
    const engine = new Engine();
    const listener = engine.open(0);
    listener.bind('$.Adopt');
    const message = encodeMessage({ name: '$.Adopt', data: new Uint8Array(1000) });
    const frame = new Uint8Array(message.length + 12);
    frame.set(message, 12);
    engine.open(0).sendBytes(frame.subarray(12), true);
    assert.equal(engine.compactQueues(), 0);
    assert.equal(keptOf(listener)[0]!.buffer, frame.buffer);
  });
});
