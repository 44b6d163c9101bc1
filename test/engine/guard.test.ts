/**
 * The owner's hooks into delivery (KsockGuard) and a budget several queues
 * share (shareBudget): the engine stays ignorant of why, and the daemon's
 * access policy and per-identity limits stand on them (docs/network.md).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Engine, Flags, KbusError, type KsockGuard, OpenMode, QueueBudget } from './api.js';
import { drain, throwsCode } from './support.js';

/** A guard letting a Ksock hear only names under `prefix`, and send anything but `$.Forbidden`. */
function guard(prefix: string, asked: string[] = []): KsockGuard {
  return {
    mayReceive: (name) => {
      asked.push(name);
      return name.startsWith(prefix);
    },
    checkSend: (message) => {
      if (message.name === '$.Forbidden') throw new KbusError('EPERM', 'not this one');
    },
  };
}

describe('KsockGuard', () => {
  test('a listener hears only what its guard allows, wildcards included; others are unaffected', () => {
    const engine = new Engine();
    const sender = engine.open(0, OpenMode.READ_WRITE);
    const guarded = engine.open(0, OpenMode.READ);
    const plain = engine.open(0, OpenMode.READ);
    guarded.guard = guard('$.Public.');
    guarded.bind('$.*');
    plain.bind('$.*');
    for (const name of ['$.Secret.A', '$.Public.B', '$.Top']) sender.sendMessage({ name });
    assert.deepEqual(
      drain(guarded).map((m) => m.name),
      ['$.Public.B'],
    );
    assert.deepEqual(
      drain(plain).map((m) => m.name),
      ['$.Secret.A', '$.Public.B', '$.Top'],
    );
  });

  test("a listener copy from another bus (sendCopy) obeys the guard too, and a full listener's miss is counted", () => {
    const engine = new Engine({ maxMessages: 1 });
    const agent = engine.open(0, OpenMode.READ_WRITE);
    const guarded = engine.open(0, OpenMode.READ);
    const plain = engine.open(0, OpenMode.READ);
    guarded.guard = guard('$.Public.');
    guarded.bind('$.*');
    plain.bind('$.*');
    agent.sendCopy({ name: '$.Secret.A' });
    agent.sendCopy({ name: '$.Public.B' });
    assert.deepEqual(
      drain(guarded).map((m) => m.name),
      ['$.Public.B'],
      'the secret copy never reached it, so its queue of one had room for the public one',
    );
    assert.equal(guarded.missedCount, 0, 'a refused listener is no recipient: it missed nothing');
    assert.deepEqual(
      drain(plain).map((m) => m.name),
      ['$.Secret.A'],
    );
    assert.equal(plain.missedCount, 1, 'its queue of one was full for the second copy');
  });

  test('a refused listener is no recipient: its full queue does not fail ALL_OR_FAIL', () => {
    const engine = new Engine({ maxMessages: 1 });
    const sender = engine.open(0, OpenMode.READ_WRITE);
    const guarded = engine.open(0, OpenMode.READ);
    guarded.guard = guard('$.Public.');
    guarded.bind('$.*');
    sender.sendMessage({ name: '$.Public.Fill' });
    assert.ok(guarded.isFull(false));
    sender.sendMessage({ name: '$.Secret.X', flags: Flags.ALL_OR_FAIL });
    throwsCode(() => sender.sendMessage({ name: '$.Public.Y', flags: Flags.ALL_OR_FAIL }), 'EBUSY');
  });

  test('checkSend refuses before anything happens: no id used, nothing delivered', () => {
    const engine = new Engine();
    const sender = engine.open(0, OpenMode.READ_WRITE);
    const listener = engine.open(0, OpenMode.READ);
    listener.bind('$.*');
    sender.guard = guard('$.');
    const first = sender.sendMessage({ name: '$.Allowed' });
    throwsCode(() => sender.sendMessage({ name: '$.Forbidden' }), 'EPERM');
    const second = sender.sendMessage({ name: '$.Allowed' });
    assert.equal(second.serialNum, first.serialNum + 1);
    assert.deepEqual(
      drain(listener).map((m) => m.name),
      ['$.Allowed', '$.Allowed'],
    );
  });
});

describe('shareBudget', () => {
  test('queues sharing a budget are all full once it is spent, and free again as they are read', () => {
    const engine = new Engine();
    const shared = new QueueBudget(Number.POSITIVE_INFINITY, 200);
    const sender = engine.open(0, OpenMode.READ_WRITE);
    const a = engine.open(0, OpenMode.READ);
    const b = engine.open(0, OpenMode.READ);
    const other = engine.open(0, OpenMode.READ);
    a.shareBudget(shared);
    b.shareBudget(shared);
    for (const k of [a, b, other]) k.bind('$.Fill');
    sender.sendMessage({ name: '$.Fill', data: new Uint8Array(100) });
    assert.ok(shared.spent);
    assert.ok(a.isFull(false) && b.isFull(false));
    assert.ok(!other.isFull(false));
    drain(a);
    drain(b);
    assert.equal(shared.used, 0);
    assert.ok(!a.isFull(false));
  });
});
