/**
 * Which Ksocks hear a message (Kbus.txt "Message names" wildcards,
 * "Listeners", "Senders", "Receiving messages once only").
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Engine, type EngineKsock as Ksock } from './api.js';
import { assertEmpty, drain } from './support.js';

/** Sends an announcement for each name, then returns the names `listener` received, in order. */
function heard(listener: Ksock, sender: Ksock, names: string[]): string[] {
  for (const name of names) sender.sendMessage({ name });
  return drain(listener).map((m) => m.name);
}

function pair(): { listener: Ksock; sender: Ksock } {
  const engine = new Engine();
  return { listener: engine.open(), sender: engine.open() };
}

describe('wildcards', () => {
  // Kbus.txt "Message names": "$.Sensors.*" includes all the child names at
  // that level and below, i.e. all the names that start with "$.Sensors.".
  test("'*' matches every name below it, at any depth, and nothing else", () => {
    const { listener, sender } = pair();
    listener.bind('$.Sensors.*');
    const got = heard(listener, sender, [
      '$.Sensors.Kitchen',
      '$.Sensors',
      '$.Sensors.Kitchen.FireAlarm',
      '$.SensorsX.Kitchen',
      '$.Sensors.Bedroom.Window.Latch',
      '$.Other.Sensors.Kitchen',
    ]);
    assert.deepEqual(got, [
      '$.Sensors.Kitchen',
      '$.Sensors.Kitchen.FireAlarm',
      '$.Sensors.Bedroom.Window.Latch',
    ]);
  });

  // Kbus.txt "Message names": "$.Sensors.%" includes "$.Sensors.Kitchen" and
  // "$.Sensors.Bedroom", but not "$.Sensors.Kitchen.Toaster".
  test("'%' matches the names exactly one level below it", () => {
    const { listener, sender } = pair();
    listener.bind('$.Sensors.%');
    const got = heard(listener, sender, [
      '$.Sensors.Kitchen',
      '$.Sensors.Kitchen.Toaster',
      '$.Sensors',
      '$.Sensors.Bedroom',
      '$.SensorsX.Bedroom',
    ]);
    assert.deepEqual(got, ['$.Sensors.Kitchen', '$.Sensors.Bedroom']);
  });

  // Kbus.txt "Message names": '*' covers all names starting with the name up
  // to the '*', so '$.*' covers every name.
  test("'$.*' matches every name and '$.%' every one-word name", () => {
    const { listener, sender } = pair();
    listener.bind('$.*');
    const names = ['$.a', '$.a.b', '$.Sensors.Kitchen.Toaster'];
    assert.deepEqual(heard(listener, sender, names), names);
    listener.unbind('$.*');
    listener.bind('$.%');
    assert.deepEqual(heard(listener, sender, names), ['$.a']);
  });

  // Kbus.txt "Receiving messages once only": binding to a name and to a
  // wildcard that includes it gives multiple copies.
  test('a listener bound to a name and to a wildcard covering it gets two copies', () => {
    const { listener, sender } = pair();
    listener.bind('$.Sensors.Kitchen');
    listener.bind('$.Sensors.*');
    const id = sender.sendMessage({ name: '$.Sensors.Kitchen' });
    const got = drain(listener);
    assert.equal(got.length, 2);
    for (const m of got) assert.deepEqual(m.id, id);
  });

  // Kbus.txt "Receiving messages once only": "two overlapping wildcards".
  test("overlapping '*' and '%' wildcards give two copies where both match", () => {
    const { listener, sender } = pair();
    listener.bind('$.a.*');
    listener.bind('$.a.%');
    assert.deepEqual(heard(listener, sender, ['$.a.b', '$.a.b.c']), ['$.a.b', '$.a.b', '$.a.b.c']);
  });
});

describe('listeners', () => {
  // Kbus.txt "Listeners": "it is allowed to bind to the same name more than
  // once"; "Receiving messages once only": it then receives multiple copies.
  test('binding to the same name twice gives two copies of each message', () => {
    const { listener, sender } = pair();
    listener.bind('$.Fred');
    listener.bind('$.Fred');
    assert.deepEqual(heard(listener, sender, ['$.Fred']), ['$.Fred', '$.Fred']);
  });

  // Kbus.txt "Listeners": an ordinary listener receives all messages with
  // that name; each bound Ksock gets its own copy.
  test('every Ksock bound to a name gets a copy, the sender included if it is bound', () => {
    const engine = new Engine();
    const a = engine.open();
    const b = engine.open();
    const sender = engine.open();
    const bystander = engine.open();
    a.bind('$.Fred');
    b.bind('$.Fred');
    sender.bind('$.Fred');
    bystander.bind('$.Jim');
    const id = sender.sendMessage({ name: '$.Fred' });
    for (const k of [a, b, sender]) {
      const got = drain(k);
      assert.equal(got.length, 1, `Ksock ${k.id}`);
      assert.deepEqual(got[0]!.id, id);
    }
    assertEmpty(bystander);
  });

  // Kbus.txt "Listeners": messages are popped with NEXTMSG in the order queued.
  test('a listener receives messages in the order they were sent', () => {
    const { listener, sender } = pair();
    listener.bind('$.a.*');
    const names = ['$.a.one', '$.a.two', '$.a.three', '$.a.four'];
    assert.deepEqual(heard(listener, sender, names), names);
  });

  // Kbus.txt "Senders": "If there are no listeners (of any type) bound to
  // that message name, then the message will be ignored."
  test('an announcement nobody listens to is dropped and the send succeeds', () => {
    const engine = new Engine();
    const sender = engine.open();
    const other = engine.open();
    other.bind('$.Jim');
    const id = sender.sendMessage({ name: '$.Fred' });
    assert.deepEqual(id, { networkId: 0, serialNum: 1 });
    assertEmpty(sender);
    assertEmpty(other);
  });

  // Kbus.txt "The KBUS devices": "Each KBUS device is independent - messages
  // cannot be sent from /dev/kbus0 to /dev/kbus1".
  test('a message sent on one device does not reach listeners on another', () => {
    const engine = new Engine({ devices: 2 });
    const here = engine.open(0);
    const there = engine.open(1);
    here.bind('$.Fred');
    there.bind('$.Fred');
    engine.open(0).sendMessage({ name: '$.Fred' });
    assert.equal(here.numMessages(), 1);
    assertEmpty(there);
  });
});
