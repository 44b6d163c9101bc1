/**
 * The /proc/kbus texts (Kbus.txt "/proc/kbus/bindings", "/proc/kbus/stats";
 * kbus.c kbus_binding_seq_show and kbus_stats_seq_show, whose formats win
 * over the older examples in Kbus.txt; protocol.md "Points ... settled":
 * "BINDINGS and STATS report every device, in the formats that kbus.c
 * prints ..., the BINDINGS header line once per device").
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Engine, encodeMessage, Flags, makeMessage, OpenMode } from './api.js';
import { ascii, throwsCode } from './support.js';

const HEADER =
  '# <device> is bound to <Ksock-ID> in <process-PID> as <Replier|Listener> for <message-name>\n';

/** The three stats lines of an idle Ksock (nothing read, written or owed). */
function idle(id: number, last = '0:0', queue = '0 of 100'): string {
  return (
    `    ksock ${id} last msg ${last} queue ${queue}\n` +
    '      read byte 0 of 0, wrote byte 0 of HDR (not finished), not sending\n' +
    '      outstanding requests 0 (size 16, max 0), unsent replies 0 (max 0)\n'
  );
}

describe('/proc/kbus/bindings', () => {
  // kbus.c kbus_binding_seq_show: the header line is printed for each device.
  test('with no bindings there is one header line per device', () => {
    const engine = new Engine({ devices: 3 });
    assert.equal(engine.bindingsText(), HEADER.repeat(3));
  });

  // kbus.c kbus_binding_seq_show: "%3u: %8u %8lu  %c  %.*s\n" (device,
  // Ksock id, pid, R or L, name), the bindings newest first (list_add).
  test('each binding is a "%3u: %8u %8lu  %c  %s" line, newest first, under its device', () => {
    const engine = new Engine({ devices: 2 });
    const a = engine.open(0, OpenMode.READ_WRITE, 100);
    const b = engine.open(0, OpenMode.READ_WRITE, 200);
    const c = engine.open(1, OpenMode.READ, 300);
    a.bind('$.Fred');
    b.bind('$.Jim.*', true);
    c.bind('$.A');
    a.bind('$.Jim.*');
    assert.equal(
      engine.bindingsText(),
      HEADER +
        '  0:        1      100  L  $.Jim.*\n' +
        '  0:        2      200  R  $.Jim.*\n' +
        '  0:        1      100  L  $.Fred\n' +
        HEADER +
        '  1:        1      300  L  $.A\n',
    );
  });

  // kbus.c kbus_forget_binding / kbus_forget_my_bindings: unbinding or
  // closing removes the lines.
  test('an unbind or a close removes the binding lines', () => {
    const engine = new Engine();
    const a = engine.open(0, OpenMode.READ_WRITE, 100);
    const b = engine.open(0, OpenMode.READ_WRITE, 200);
    a.bind('$.Fred');
    a.bind('$.Jim');
    b.bind('$.Fred', true);
    a.unbind('$.Fred');
    assert.equal(
      engine.bindingsText(),
      `${HEADER}  0:        2      200  R  $.Fred\n  0:        1      100  L  $.Jim\n`,
    );
    b.close();
    assert.equal(engine.bindingsText(), `${HEADER}  0:        1      100  L  $.Jim\n`);
  });

  // printf widths are minimums: longer numbers are not cut.
  test('ids, pids and device numbers wider than the field are printed whole', () => {
    const engine = new Engine({ devices: 1 });
    for (let i = 1; i < 100; i++) engine.newDevice();
    const k = engine.open(99, OpenMode.READ, 123456789);
    k.bind('$.X');
    const lines = engine.bindingsText().split('\n');
    assert.ok(lines.includes(' 99:        1 123456789  L  $.X'), lines.slice(-3).join('\n'));
  });
});

describe('/proc/kbus/stats', () => {
  // kbus.c kbus_stats_seq_show: "dev %2u: next ksock %u next msg %u unsent
  // unbindings %u%s", then each open Ksock (newest first, list_add in
  // kbus_remember_open_ksock) in three lines.
  test('a device with idle Ksocks', () => {
    const engine = new Engine({ devices: 2 });
    engine.open(0, OpenMode.READ_WRITE, 10);
    engine.open(0, OpenMode.READ, 20);
    engine.open(1, OpenMode.READ_WRITE, 30);
    assert.equal(
      engine.statsText(),
      'dev  0: next ksock 3 next msg 0 unsent unbindings 0\n' +
        idle(2) +
        idle(1) +
        'dev  1: next ksock 2 next msg 0 unsent unbindings 0\n' +
        idle(1),
    );
  });

  // kbus.c: next_ksock_id and next_msg_serial_num start at 0 and the first
  // id given is 1 (kbus_open, kbus_next_serial_num).
  test('an engine with no Ksocks reports next ksock 0 and next msg 0', () => {
    const engine = new Engine();
    assert.equal(engine.statsText(), 'dev  0: next ksock 0 next msg 0 unsent unbindings 0\n');
  });

  // kbus.c kbus_stats_seq_show: last msg, queue N of M, read byte X of Y,
  // wrote byte P of PART, for a small scenario.
  test('last message sent, queue size and limit, and reading and writing progress', () => {
    const engine = new Engine();
    const sender = engine.open(0, OpenMode.READ_WRITE, 10);
    const listener = engine.open(0, OpenMode.READ, 20);
    listener.bind('$.Fred');
    listener.setMaxMessages(5);
    sender.sendMessage({ name: '$.Fred' });
    sender.sendMessage({ name: '$.Fred', data: ascii('abc1234') });
    // 64 + 8 + 0 + 4 = 76 bytes.
    assert.equal(listener.nextMsg(), 76);
    listener.read(10);
    const bytes = encodeMessage(makeMessage({ name: '$.Jim', data: ascii('xy') }));
    sender.write(bytes.subarray(0, 66));
    assert.equal(
      engine.statsText(),
      'dev  0: next ksock 3 next msg 3 unsent unbindings 0\n' +
        '    ksock 2 last msg 0:0 queue 1 of 5\n' +
        '      read byte 10 of 76, wrote byte 0 of HDR (not finished), not sending\n' +
        '      outstanding requests 0 (size 16, max 0), unsent replies 0 (max 0)\n' +
        '    ksock 1 last msg 0:2 queue 0 of 100\n' +
        '      read byte 0 of 0, wrote byte 2 of NAME (not finished), not sending\n' +
        '      outstanding requests 0 (size 16, max 0), unsent replies 0 (max 0)\n',
    );
  });

  // kbus.c kbus_write_parts: "which" moves through HDR, NAME, NPAD, DATA,
  // DPAD, FINAL (kbus_msg_part_name); once the final guard is in, the part
  // is past the last and is printed "???" with is_finished set.
  test('"wrote byte" follows the part being written, and the finished message', () => {
    // '$.Jim' (5) + NUL + 2 pad = 8; data 'xy' + 2 pad = 4; 64 + 8 + 4 + 4 = 80.
    const steps: [number, string][] = [
      [10, '10 of HDR (not finished)'],
      [64, '0 of NAME (not finished)'],
      [66, '2 of NAME (not finished)'],
      [69, '0 of NPAD (not finished)'],
      [70, '1 of NPAD (not finished)'],
      [72, '0 of DATA (not finished)'],
      [73, '1 of DATA (not finished)'],
      [74, '0 of DPAD (not finished)'],
      [76, '0 of FINAL (not finished)'],
      [79, '3 of FINAL (not finished)'],
      [80, '0 of ??? (finished)'],
    ];
    const bytes = encodeMessage(makeMessage({ name: '$.Jim', data: ascii('xy') }));
    assert.equal(bytes.length, 80);
    for (const [written, expected] of steps) {
      const engine = new Engine();
      const sender = engine.open(0);
      sender.write(bytes.subarray(0, written));
      assert.match(
        engine.statsText(),
        new RegExp(`wrote byte ${expected.replace(/[?()]/g, '\\$&')}, not sending\n`),
        `after ${written} bytes`,
      );
    }
  });

  // kbus.c: a message with no data has an empty DATA part; after the name
  // padding the writer is in DATA at byte 0.
  test('with no data, after the name padding the writer is at byte 0 of DATA', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    sender.write(encodeMessage(makeMessage({ name: '$.Fred' })).subarray(0, 72));
    assert.match(engine.statsText(), /wrote byte 0 of DATA \(not finished\), not sending\n/);
  });

  // kbus.c kbus_stats_seq_show: outstanding requests (count, array size,
  // high-water mark), unsent replies (count, high-water mark) and the
  // "sending" state of an ALL_OR_WAIT send (its message finished, the part
  // past the last one).
  test('outstanding requests, unsent replies and a pending send', () => {
    const engine = new Engine();
    const sender = engine.open(0, OpenMode.READ_WRITE, 10);
    const replier = engine.open(0, OpenMode.READ_WRITE, 20);
    const listener = engine.open(0, OpenMode.READ, 30);
    replier.bind('$.Q', true);
    listener.bind('$.Q');
    listener.setMaxMessages(1);
    const request = sender.sendMessage({ name: '$.Q', flags: Flags.WANT_A_REPLY });
    // '$.Q' (3) + NUL = 4; 64 + 4 + 4 = 72 bytes.
    assert.equal(replier.nextMsg(), 72);
    replier.read(10);
    throwsCode(() => sender.sendMessage({ name: '$.Q', flags: Flags.ALL_OR_WAIT }), 'EAGAIN');
    assert.equal(
      engine.statsText(),
      'dev  0: next ksock 4 next msg 3 unsent unbindings 0\n' +
        idle(3, '0:0', '1 of 1') +
        '    ksock 2 last msg 0:0 queue 0 of 100\n' +
        '      read byte 10 of 72, wrote byte 0 of HDR (not finished), not sending\n' +
        '      outstanding requests 0 (size 16, max 0), unsent replies 1 (max 1)\n' +
        '    ksock 1 last msg 0:2 queue 0 of 100\n' +
        '      read byte 0 of 0, wrote byte 0 of ??? (finished), sending\n' +
        '      outstanding requests 1 (size 16, max 1), unsent replies 0 (max 0)\n',
    );
    replier.sendMessage({ name: '$.Q', inReplyTo: request, to: sender.id });
    listener.nextMessage();
    assert.equal(
      engine.statsText(),
      'dev  0: next ksock 4 next msg 4 unsent unbindings 0\n' +
        idle(3, '0:0', '1 of 1') +
        '    ksock 2 last msg 0:3 queue 0 of 100\n' +
        '      read byte 10 of 72, wrote byte 0 of HDR (not finished), not sending\n' +
        '      outstanding requests 0 (size 16, max 0), unsent replies 0 (max 1)\n' +
        '    ksock 1 last msg 0:2 queue 1 of 100\n' +
        '      read byte 0 of 0, wrote byte 0 of HDR (not finished), not sending\n' +
        '      outstanding requests 0 (size 16, max 1), unsent replies 0 (max 0)\n',
    );
  });

  // kbus.c kbus_remember_msg_id: the outstanding-request array starts at 16
  // (KBUS_INIT_MSG_ID_MEMSIZE) and grows by kbus_next_size (16 -> 18).
  test('the outstanding request array grows from 16 to 18 at the 17th request', () => {
    const engine = new Engine();
    const sender = engine.open(0);
    const replier = engine.open(0);
    replier.bind('$.Q', true);
    for (let i = 0; i < 16; i++) sender.sendMessage({ name: '$.Q', flags: Flags.WANT_A_REPLY });
    assert.match(engine.statsText(), /outstanding requests 16 \(size 16, max 16\)/);
    sender.sendMessage({ name: '$.Q', flags: Flags.WANT_A_REPLY });
    assert.match(engine.statsText(), /outstanding requests 17 \(size 18, max 17\)/);
  });

  // kbus.c kbus_release / kbus_forget_open_ksock: a closed Ksock is no
  // longer listed; "next ksock" does not go back.
  test('a closed Ksock is no longer listed', () => {
    const engine = new Engine();
    const a = engine.open(0);
    engine.open(0);
    a.close();
    assert.equal(
      engine.statsText(),
      `dev  0: next ksock 3 next msg 0 unsent unbindings 0\n${idle(2)}`,
    );
  });
});
