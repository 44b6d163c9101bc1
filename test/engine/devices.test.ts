/**
 * Devices, Ksock ids, closed Ksocks and VERBOSE (Kbus.txt "The KBUS
 * devices", "Ksocks", "IOCTLS" NEWDEVICE / VERBOSE, "Error numbers" ENOENT;
 * protocol.md "Message ids, Ksock ids and device indexes follow the seed:
 * per device, ascending, 0 reserved").
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  Engine,
  encodeMessage,
  Flags,
  type EngineKsock as Ksock,
  MAX_DEVICES,
  makeMessage,
  OpenMode,
} from './api.js';
import { next, sendWritten, throwsCode } from './support.js';

describe('independent devices', () => {
  // Kbus.txt "The KBUS devices": "Each KBUS device is independent - messages
  // cannot be sent from /dev/kbus0 to /dev/kbus1".
  test('a message sent on device 0 never reaches a listener on device 1', () => {
    const engine = new Engine({ devices: 3 });
    assert.equal(engine.deviceCount, 3);
    const sender = engine.open(0);
    const here = engine.open(0, OpenMode.READ);
    const there = engine.open(1, OpenMode.READ);
    const further = engine.open(2, OpenMode.READ);
    for (const k of [here, there, further]) k.bind('$.Fred');
    sender.sendMessage({ name: '$.Fred' });
    assert.equal(here.numMessages(), 1);
    assert.equal(there.numMessages(), 0);
    assert.equal(further.numMessages(), 0);
  });

  // Kbus.txt "The KBUS devices": no shared information, so a replier on
  // another device is no replier ("Error numbers" EADDRNOTAVAIL).
  test('a replier on another device does not answer: the Request is EADDRNOTAVAIL', () => {
    const engine = new Engine({ devices: 2 });
    engine.open(1).bind('$.Req', true);
    const sender = engine.open(0);
    throwsCode(
      () => sender.sendMessage({ name: '$.Req', flags: Flags.WANT_A_REPLY }),
      'EADDRNOTAVAIL',
    );
    assert.equal(sender.replier('$.Req'), 0);
  });

  // Kbus.txt "The KBUS devices": bindings are per device, so the same
  // replier name may be bound on each.
  test('each device may have its own replier for the same name', () => {
    const engine = new Engine({ devices: 2 });
    const r0 = engine.open(0);
    const r1 = engine.open(1);
    r0.bind('$.Req', true);
    r1.bind('$.Req', true);
    assert.equal(r0.replier('$.Req'), r0.id);
    assert.equal(r1.replier('$.Req'), r1.id);
  });

  // Kbus.txt "Message ids": serial numbers ascend per KBUS system (kbus.c
  // keeps next_msg_serial_num in each device); protocol.md: "per device".
  test('message serial numbers ascend from 1 on each device separately', () => {
    const engine = new Engine({ devices: 2 });
    const a = engine.open(0);
    const b = engine.open(1);
    assert.equal(a.sendMessage({ name: '$.X' }).serialNum, 1);
    assert.equal(a.sendMessage({ name: '$.X' }).serialNum, 2);
    assert.equal(b.sendMessage({ name: '$.X' }).serialNum, 1);
    assert.equal(a.sendMessage({ name: '$.X' }).serialNum, 3);
  });

  // Kbus.txt "Ksocks": "Every Ksock has an id ... assigned by KBUS when the
  // device is opened. The value 0 is reserved for KBUS itself"; Kbus.txt
  // "/proc/kbus/bindings": "Ksock id 1 on device 1 is not related to ...
  // Ksock id 1 on device 13".
  test('Ksock ids start at 1 and ascend on each device separately', () => {
    const engine = new Engine({ devices: 2 });
    const a1 = engine.open(0);
    const b1 = engine.open(1);
    const a2 = engine.open(0);
    const b2 = engine.open(1);
    const a3 = engine.open(0);
    assert.deepEqual(
      [a1, a2, a3].map((k) => k.ksockId()),
      [1, 2, 3],
    );
    assert.deepEqual(
      [b1, b2].map((k) => k.ksockId()),
      [1, 2],
    );
    assert.equal(a2.id, 2);
    assert.equal(b2.deviceIndex, 1);
  });

  // kbus.c kbus_open: ids are not reused when a Ksock closes.
  test('a closed Ksock’s id is not given again', () => {
    const engine = new Engine();
    const a = engine.open(0);
    a.close();
    assert.equal(engine.open(0).ksockId(), 2);
  });
});

describe('opening and creating devices', () => {
  // Kbus.txt "Error numbers" ENOENT: "On attempting to open a Ksock: There is
  // no such device (... '/dev/kbus9' when there are only 3 KBUS devices)".
  test('opening a device that does not exist is ENOENT', () => {
    const engine = new Engine({ devices: 3 });
    throwsCode(() => engine.open(3), 'ENOENT');
    throwsCode(() => engine.open(9), 'ENOENT');
    throwsCode(() => engine.open(255), 'ENOENT');
    throwsCode(() => engine.open(-1), 'ENOENT');
    engine.open(2);
  });

  // Kbus.txt "IOCTLS" NEWDEVICE: "The next KBUS device number (up to a
  // maximum of 255) will be allocated. Returns the new device number."
  test('NEWDEVICE returns the next device index, and the device can be opened', () => {
    const engine = new Engine({ devices: 3 });
    const k = engine.open(0);
    assert.equal(k.newDevice(), 3);
    assert.equal(engine.newDevice(), 4);
    assert.equal(engine.deviceCount, 5);
    const on4 = engine.open(4);
    assert.equal(on4.deviceIndex, 4);
    assert.equal(on4.ksockId(), 1);
    throwsCode(() => engine.open(5), 'ENOENT');
  });

  // Kbus.txt "IOCTLS" NEWDEVICE: "up to a maximum of 255"; kbus.c
  // kbus_setup_new_device: an index past KBUS_MAX_NUM_DEVICES - 1 is
  // -EINVAL.
  test('NEWDEVICE gives ascending indexes up to 255, then EINVAL', () => {
    const engine = new Engine({ devices: 3 });
    const k = engine.open(0);
    for (let expected = 3; expected <= 255; expected++) {
      assert.equal(k.newDevice(), expected);
    }
    assert.equal(MAX_DEVICES, 256);
    throwsCode(() => k.newDevice(), 'EINVAL');
    throwsCode(() => engine.newDevice(), 'EINVAL');
    assert.equal(engine.deviceCount, 256);
    assert.equal(engine.open(255).deviceIndex, 255);
  });

  // A new device is as independent as the others (Kbus.txt "The KBUS
  // devices").
  test('a new device starts with its own ids and no bindings', () => {
    const engine = new Engine();
    const old = engine.open(0);
    old.bind('$.Fred');
    old.sendMessage({ name: '$.Fred' });
    const index = engine.newDevice();
    const k = engine.open(index);
    assert.equal(k.ksockId(), 1);
    assert.equal(k.sendMessage({ name: '$.Fred' }).serialNum, 1);
    assert.equal(old.numMessages(), 1);
  });
});

describe('closed Ksocks', () => {
  // A closed Ksock is a closed file: every device operation on it is EBADF
  // (protocol.md: before OPEN, "Any other frame first gets status -EBADF";
  // closing the connection is release).
  const bytes = encodeMessage(makeMessage({ name: '$.Fred' }));
  const operations: [string, (k: Ksock) => unknown][] = [
    ['WRITE', (k) => k.write(bytes)],
    ['SEND', (k) => sendWritten(k)],
    ['DISCARD', (k) => k.discard()],
    ['SENDMSG', (k) => k.sendMessage({ name: '$.Fred' })],
    ['sendBytes', (k) => k.sendBytes(bytes)],
    ['NEXTMSG', (k) => k.nextMsg()],
    ['READ', (k) => k.read(10)],
    ['LENLEFT', (k) => k.lenLeft()],
    ['NEXTREAD', (k) => k.nextMessage()],
    ['NEXTREADS', (k) => k.nextMessages(10, 1000)],
    ['BIND', (k) => k.bind('$.Jim')],
    ['UNBIND', (k) => k.unbind('$.Fred')],
    ['REPLIER', (k) => k.replier('$.Fred')],
    ['KSOCKID', (k) => k.ksockId()],
    ['RESET', (k) => k.reset()],
    ['LASTSENT', (k) => k.lastSent()],
    ['MAXMSGS', (k) => k.setMaxMessages(0)],
    ['NUMMSGS', (k) => k.numMessages()],
    ['UNREPLIEDTO', (k) => k.unrepliedTo()],
    ['MSGONLYONCE', (k) => k.msgOnlyOnce()],
    ['VERBOSE', (k) => k.verbose()],
    ['NEWDEVICE', (k) => k.newDevice()],
    ['REPORTREPLIERBINDS', (k) => k.reportReplierBinds()],
  ];
  for (const [name, op] of operations) {
    test(`${name} on a closed Ksock is EBADF`, () => {
      const engine = new Engine();
      const k = engine.open(0);
      k.bind('$.Fred');
      k.close();
      assert.equal(k.closed, true);
      throwsCode(() => op(k), 'EBADF', name);
    });
  }

  // kbus.c kbus_release: a closed Ksock's bindings are gone, so it receives
  // nothing, and closing twice does no harm.
  test('a closed Ksock receives nothing, reports no readiness, and closing again is harmless', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const k = engine.open(0);
    k.bind('$.Fred');
    k.close();
    k.close();
    sender.sendMessage({ name: '$.Fred' });
    assert.equal(k.poll(), 0);
    assert.equal(engine.open(0).replier('$.Fred'), 0);
  });
});

describe('VERBOSE', () => {
  // Kbus.txt "IOCTLS" VERBOSE: "Determines whether verbose kernel messages
  // should be output or not. Affects the *device* ... May also be used to
  // query the current state"; kbus.c kbus_set_verbosity returns the
  // previous value.
  test('VERBOSE returns the previous state and asking does not change it', () => {
    const engine = new Engine();
    const k = engine.open(0);
    assert.equal(k.verbose(), false);
    assert.equal(k.verbose(true), false);
    assert.equal(k.verbose(), true);
    assert.equal(k.verbose(false), true);
    assert.equal(k.verbose(), false);
  });

  // Kbus.txt "IOCTLS" VERBOSE: "Affects the *device* (the entire Ksock)".
  test('VERBOSE is a device setting: other Ksocks on the device see it, other devices do not', () => {
    const engine = new Engine({ devices: 2 });
    engine.open(0).verbose(true);
    assert.equal(engine.open(0).verbose(), true);
    assert.equal(engine.open(1).verbose(), false);
  });

  // The engine option verbose starts each device verbose.
  test('the engine option verbose starts the devices verbose', () => {
    const engine = new Engine({ verbose: true, devices: 2 });
    assert.equal(engine.open(0).verbose(), true);
    assert.equal(engine.open(1).verbose(), true);
  });

  // Kbus.txt "IOCTLS" VERBOSE: verbose messages are output only while the
  // device is verbose (the engine's log option receives them).
  test('the log receives lines only while the device is verbose', () => {
    const lines: string[] = [];
    const engine = new Engine({ log: (line) => lines.push(line) });
    const sender = engine.open(0);
    const listener = engine.open(0);
    listener.bind('$.Fred');
    sender.sendMessage({ name: '$.Fred' });
    listener.nextMessage();
    assert.deepEqual(lines, []);
    sender.verbose(true);
    sender.sendMessage({ name: '$.Fred' });
    listener.nextMessage();
    assert.ok(lines.length > 0);
    for (const line of lines) assert.equal(typeof line, 'string');
    sender.verbose(false);
    const count = lines.length;
    sender.sendMessage({ name: '$.Fred' });
    listener.nextMessage();
    engine.open(0).close();
    assert.equal(lines.length, count);
  });

  // Kbus.txt "IOCTLS" VERBOSE affects one device only.
  test('a verbose device logs nothing for the operations of another device', () => {
    const lines: string[] = [];
    const engine = new Engine({ devices: 2, log: (line) => lines.push(line) });
    engine.open(0).verbose(true);
    lines.length = 0;
    const sender = engine.open(1);
    const listener = engine.open(1);
    listener.bind('$.Fred');
    sender.sendMessage({ name: '$.Fred' });
    assert.equal(next(listener).name, '$.Fred');
    assert.deepEqual(lines, []);
  });
});
