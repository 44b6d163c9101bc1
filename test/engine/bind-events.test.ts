/**
 * REPORTREPLIERBINDS and `$.KBUS.ReplierBindEvent` messages (Kbus.txt
 * "IOCTLS", "Error numbers" EAGAIN; kbus.c kbus_set_report_binds,
 * kbus_report_existing_binds, kbus_push_synthetic_bind_message,
 * kbus_safe_report_unbinding, kbus_maybe_move_unsent_unbind_msg).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodeReplierBindEvent,
  Engine,
  type EngineOptions,
  Flags,
  type EngineKsock as Ksock,
  type Message,
  MessageNames,
  OpenMode,
} from './api.js';
import { drain, next, throwsCode } from './support.js';

const EVENT = MessageNames.REPLIER_BIND_EVENT;

function eventOf(message: Message) {
  assert.equal(message.name, EVENT);
  return decodeReplierBindEvent(message.data);
}

/** An engine reporting replier binds, with a listener for the events. */
function reporting(options: EngineOptions = {}) {
  const engine = new Engine(options);
  const watcher = engine.open(0, OpenMode.READ);
  watcher.bind(EVENT);
  watcher.reportReplierBinds(true);
  return { engine, watcher };
}

/** Fills `ksock`'s queue: limit 1 and one message in it. */
function fill(ksock: Ksock, engine: Engine): void {
  ksock.bind('$.Filler');
  ksock.setMaxMessages(1);
  engine.open(0).sendMessage({ name: '$.Filler' });
  assert.equal(ksock.numMessages(), 1);
}

describe('REPORTREPLIERBINDS', () => {
  // Kbus.txt "IOCTLS" REPORTREPLIERBINDS; kbus.c kbus_set_report_binds:
  // "1 (for yes), 0xFFFFFFFF (for query) ... the previous value".
  test('REPORTREPLIERBINDS returns the previous state; asking does not change it', () => {
    const engine = new Engine();
    const k = engine.open(0);
    assert.equal(k.reportReplierBinds(), false);
    assert.equal(k.reportReplierBinds(true), false);
    assert.equal(k.reportReplierBinds(), true);
    assert.equal(k.reportReplierBinds(false), true);
    assert.equal(k.reportReplierBinds(), false);
  });

  // kbus.c kbus_set_report_binds: the setting is the device's (dev->
  // report_replier_binds), so another Ksock sees it.
  test('the setting belongs to the device, not the Ksock', () => {
    const engine = new Engine({ devices: 2 });
    engine.open(0).reportReplierBinds(true);
    assert.equal(engine.open(0).reportReplierBinds(), true);
    assert.equal(engine.open(1).reportReplierBinds(), false);
  });

  // kbus.c kbus_report_existing_binds: turning it on reports every existing
  // replier binding (and no listener binding) to the asker, newest first.
  test('turning it on reports the existing replier bindings to the asker', () => {
    const engine = new Engine();
    const r1 = engine.open(0);
    const r2 = engine.open(0);
    r1.bind('$.A', true);
    r2.bind('$.B.*', true);
    r2.bind('$.C');
    const asker = engine.open(0);
    asker.reportReplierBinds(true);
    const events = drain(asker).map(eventOf);
    assert.deepEqual(events, [
      { isBind: true, binder: r2.id, name: '$.B.*' },
      { isBind: true, binder: r1.id, name: '$.A' },
    ]);
  });

  // kbus.c kbus_report_existing_binds: "if (kbus_queue_is_full(priv, ...))
  // ... return -EBUSY" when the asker cannot take every existing binding.
  test('turning it on is EBUSY when the asker’s queue cannot take every existing binding', () => {
    const engine = new Engine();
    const replier = engine.open(0);
    replier.bind('$.A', true);
    replier.bind('$.B', true);
    const asker = engine.open(0);
    asker.setMaxMessages(1);
    throwsCode(() => asker.reportReplierBinds(true), 'EBUSY');
    assert.equal(asker.numMessages(), 1);
  });

  // kbus.c kbus_report_existing_binds: only when turning it on (1), not
  // when asking or turning it off.
  test('asking or turning it off reports nothing', () => {
    const engine = new Engine();
    engine.open(0).bind('$.A', true);
    const asker = engine.open(0);
    asker.reportReplierBinds();
    asker.reportReplierBinds(false);
    assert.equal(asker.numMessages(), 0);
  });
});

describe('Replier Bind Events', () => {
  // Kbus.txt "IOCTLS" REPORTREPLIERBINDS: "synthetic messages announcing
  // Replier BIND/UNBIND events ... named "$.KBUS.ReplierBindEvent"", with
  // is_bind, binder and name in the data.
  test('a replier bind and unbind each send an event to the listeners of the event', () => {
    const { engine, watcher } = reporting();
    const replier = engine.open(0);
    replier.bind('$.Fred', true);
    replier.unbind('$.Fred', true);
    const messages = drain(watcher);
    assert.deepEqual(messages.map(eventOf), [
      { isBind: true, binder: replier.id, name: '$.Fred' },
      { isBind: false, binder: replier.id, name: '$.Fred' },
    ]);
    // Status messages come from KBUS itself (Kbus.txt "Status message").
    for (const m of messages) {
      assert.equal(m.from, 0);
      assert.equal(m.flags & Flags.SYNTHETIC, Flags.SYNTHETIC);
    }
  });

  // Kbus.txt "IOCTLS" REPORTREPLIERBINDS: the events are about Replier binds.
  test('listener binds and unbinds send no event', () => {
    const { engine, watcher } = reporting();
    const listener = engine.open(0);
    listener.bind('$.Fred');
    listener.unbind('$.Fred');
    assert.equal(watcher.numMessages(), 0);
  });

  // kbus.c kbus_remember_binding: events only while the device reports.
  test('no events while reporting is off', () => {
    const { engine, watcher } = reporting();
    watcher.reportReplierBinds(false);
    const replier = engine.open(0);
    replier.bind('$.Fred', true);
    replier.unbind('$.Fred', true);
    assert.equal(watcher.numMessages(), 0);
  });

  // kbus_forget_my_bindings via kbus_safe_report_unbinding: a closing
  // replier's bindings are reported as unbound.
  test('a replier closing is reported as an unbind of each of its replier bindings', () => {
    const { engine, watcher } = reporting();
    const replier = engine.open(0);
    replier.bind('$.A', true);
    replier.bind('$.B', true);
    replier.bind('$.C');
    drain(watcher);
    const id = replier.id;
    replier.close();
    const events = drain(watcher).map(eventOf);
    assert.equal(events.length, 2);
    assert.deepEqual(events.map((e) => [e.isBind, e.binder, e.name]).sort(), [
      [false, id, '$.A'],
      [false, id, '$.B'],
    ]);
  });

  // Kbus.txt "Error numbers" EAGAIN: "one or more of the KSocks bound to
  // receive "$.KBUS.ReplierBindEvent" has a full message queue ... The
  // unbind has not been done"; kbus.c kbus_remember_binding does the same
  // for a bind.
  test('a replier bind is EAGAIN and not done when an event listener is full', () => {
    const { engine, watcher } = reporting();
    const roomy = engine.open(0, OpenMode.READ);
    roomy.bind(EVENT);
    fill(watcher, engine);
    const replier = engine.open(0);
    throwsCode(() => replier.bind('$.Fred', true), 'EAGAIN');
    assert.equal(replier.replier('$.Fred'), 0);
    assert.equal(watcher.numMessages(), 1);
    assert.equal(roomy.numMessages(), 0);
    // Once there is room, the bind succeeds.
    watcher.nextMessage();
    replier.bind('$.Fred', true);
    assert.equal(replier.replier('$.Fred'), replier.id);
    assert.deepEqual(eventOf(next(roomy)), { isBind: true, binder: replier.id, name: '$.Fred' });
  });

  // Kbus.txt "Error numbers" EAGAIN: "On attempting to unbind ... The unbind
  // has not been done."
  test('a replier unbind is EAGAIN and not done when an event listener is full', () => {
    const { engine, watcher } = reporting();
    const replier = engine.open(0);
    replier.bind('$.Fred', true);
    drain(watcher);
    fill(watcher, engine);
    throwsCode(() => replier.unbind('$.Fred', true), 'EAGAIN');
    assert.equal(replier.replier('$.Fred'), replier.id);
    assert.equal(watcher.numMessages(), 1);
  });

  // kbus.c kbus_safe_report_unbinding: when a replier closes and a listener
  // is full, the event is set aside for it; kbus_nummsgs counts it; it is
  // moved into the queue as the listener reads (kbus_nextmsg).
  test('when a replier closes while a listener is full, the event is set aside and delivered later', () => {
    const { engine, watcher } = reporting();
    const replier = engine.open(0);
    replier.bind('$.Fred', true);
    drain(watcher);
    fill(watcher, engine);
    const id = replier.id;
    replier.close();
    assert.equal(watcher.numMessages(), 2);
    assert.match(engine.statsText(), /unsent unbindings 1\n/);
    assert.equal(next(watcher).name, '$.Filler');
    assert.deepEqual(eventOf(next(watcher)), { isBind: false, binder: id, name: '$.Fred' });
    assert.equal(watcher.numMessages(), 0);
    assert.match(engine.statsText(), /unsent unbindings 0\n/);
  });

  // kbus.c kbus_unbind: "If that removed any messages from the message
  // queue, then we have room to consider moving a message across from the
  // unread Replier Unbind Event list".
  test('an unbind that empties queue slots moves a set-aside event into the queue', () => {
    const { engine, watcher } = reporting();
    const replier = engine.open(0);
    replier.bind('$.Fred', true);
    drain(watcher);
    fill(watcher, engine);
    const id = replier.id;
    replier.close();
    watcher.unbind('$.Filler');
    assert.equal(watcher.numMessages(), 1);
    assert.match(engine.statsText(), /unsent unbindings 0\n/);
    assert.deepEqual(eventOf(next(watcher)), { isBind: false, binder: id, name: '$.Fred' });
  });

  // kbus.c kbus_safe_report_unbinding: when any listener is full, a copy is
  // set aside for every listener of the event ("put aside one copy of the
  // message for each recipient"); each gets it as it reads.
  test('a set-aside event is kept for every listener, those with room included', () => {
    const { engine, watcher } = reporting();
    const roomy = engine.open(0, OpenMode.READ);
    roomy.bind(EVENT);
    const replier = engine.open(0);
    replier.bind('$.Fred', true);
    drain(watcher);
    drain(roomy);
    fill(watcher, engine);
    const id = replier.id;
    replier.close();
    assert.match(engine.statsText(), /unsent unbindings 2\n/);
    assert.equal(roomy.numMessages(), 1);
    assert.equal(roomy.poll() & 0x1, 0x1);
    assert.deepEqual(eventOf(next(roomy)), { isBind: false, binder: id, name: '$.Fred' });
    assert.equal(roomy.numMessages(), 0);
    assert.equal(watcher.numMessages(), 2);
  });

  // kbus.c kbus_poll: a set-aside event makes the listener readable.
  test('a listener with only a set-aside event is readable and can pop it', () => {
    const { engine, watcher } = reporting();
    const replier = engine.open(0);
    replier.bind('$.Fred', true);
    drain(watcher);
    fill(watcher, engine);
    replier.close();
    watcher.nextMsg();
    // The set-aside event moved into the queue when room appeared.
    assert.equal(watcher.numMessages(), 1);
    assert.equal(watcher.poll() & 0x1, 0x1);
    assert.equal(eventOf(next(watcher)).isBind, false);
  });

  // kbus.c kbus_safe_report_unbinding: past CONFIG_KBUS_MAX_UNSENT_UNBIND_
  // MESSAGES the list "goes tragic" and each listener gets one
  // "$.KBUS.UnbindEventsLost" instead; /proc/kbus/stats shows
  // "(gone tragic)" (kbus_stats_seq_show).
  test('beyond maxUnsentUnbind listeners get $.KBUS.UnbindEventsLost, and stats shows (gone tragic)', () => {
    const { engine, watcher } = reporting({ maxUnsentUnbind: 1 });
    const repliers = [engine.open(0), engine.open(0), engine.open(0)];
    repliers.forEach((r, i) => {
      r.bind(`$.R${i}`, true);
    });
    drain(watcher);
    fill(watcher, engine);
    const firstId = repliers[0]!.id;
    repliers[0]!.close();
    assert.match(engine.statsText(), /unsent unbindings 1\n/);
    repliers[1]!.close();
    assert.match(engine.statsText(), /unsent unbindings 2\(gone tragic\)\n/);
    // Only one "lost" message per listener.
    repliers[2]!.close();
    assert.match(engine.statsText(), /unsent unbindings 2\(gone tragic\)\n/);
    assert.equal(watcher.numMessages(), 3);
    const got = drain(watcher);
    assert.deepEqual(
      got.map((m) => m.name),
      ['$.Filler', EVENT, MessageNames.UNBIND_EVENTS_LOST],
    );
    assert.deepEqual(eventOf(got[1]!), { isBind: false, binder: firstId, name: '$.R0' });
    assert.match(engine.statsText(), /unsent unbindings 0\n/);
  });

  // kbus.c kbus_unbind -> kbus_forget_unbound_unsent_unbind_msgs: a
  // listener that unbinds from the event drops the events set aside for
  // that binding.
  test('a full listener that unbinds from the event drops its set-aside events', () => {
    const { engine, watcher } = reporting();
    const replier = engine.open(0);
    replier.bind('$.Fred', true);
    drain(watcher);
    fill(watcher, engine);
    replier.close();
    assert.equal(watcher.numMessages(), 2);
    watcher.unbind(EVENT);
    assert.equal(watcher.numMessages(), 1);
    assert.match(engine.statsText(), /unsent unbindings 0\n/);
    assert.deepEqual(
      drain(watcher).map((m) => m.name),
      ['$.Filler'],
    );
  });

  // kbus.c kbus_forget_my_unsent_unbind_msgs: a listener that closes drops
  // the events set aside for it.
  test('a full listener that closes drops its set-aside events', () => {
    const { engine, watcher } = reporting();
    const replier = engine.open(0);
    replier.bind('$.Fred', true);
    drain(watcher);
    fill(watcher, engine);
    replier.close();
    assert.match(engine.statsText(), /unsent unbindings 1\n/);
    watcher.close();
    assert.match(engine.statsText(), /unsent unbindings 0\n/);
  });
});
