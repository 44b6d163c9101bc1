/**
 * Replier bindings (Kbus.txt "Repliers", "IOCTLS" REPLIER,
 * "Error numbers" EADDRINUSE).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Engine, Flags, type EngineKsock as Ksock, MessageNames } from './api.js';
import { assertEmpty, nameOfLength, next, sendRequest, throwsCode } from './support.js';

describe('one replier per name', () => {
  // Kbus.txt "Repliers": "For each message name, there may be a single
  // replier"; "Error numbers", EADDRINUSE.
  test('a second replier for the same name is EADDRINUSE', () => {
    const engine = new Engine();
    const first = engine.open();
    const second = engine.open();
    first.bind('$.Fred', true);
    throwsCode(() => second.bind('$.Fred', true), 'EADDRINUSE');
    throwsCode(() => first.bind('$.Fred', true), 'EADDRINUSE');
    assert.equal(second.replier('$.Fred'), first.id);
  });

  // Kbus.txt "Repliers": the same rule for a wildcard name.
  test('a second replier for the same wildcard is EADDRINUSE', () => {
    const engine = new Engine();
    engine.open().bind('$.Sensors.*', true);
    throwsCode(() => engine.open().bind('$.Sensors.*', true), 'EADDRINUSE');
  });

  // Kbus.txt "Repliers": only replier bindings are exclusive; listeners of
  // the name are unaffected.
  test('listener bindings do not stop a replier binding, nor the reverse', () => {
    const engine = new Engine();
    const a = engine.open();
    const b = engine.open();
    a.bind('$.Fred');
    assert.doesNotThrow(() => b.bind('$.Fred', true));
    assert.doesNotThrow(() => a.bind('$.Fred'));
    assert.doesNotThrow(() => b.bind('$.Fred'));
  });

  // Kbus.txt "Repliers": once the replier unbinds, another may bind.
  test('after the replier unbinds or closes, another Ksock may become the replier', () => {
    const engine = new Engine();
    const first = engine.open();
    const second = engine.open();
    const third = engine.open();
    first.bind('$.Fred', true);
    first.unbind('$.Fred', true);
    assert.doesNotThrow(() => second.bind('$.Fred', true));
    second.close();
    assert.doesNotThrow(() => third.bind('$.Fred', true));
    assert.equal(third.replier('$.Fred'), third.id);
  });

  // Kbus.txt "Repliers": a wildcard replier is the default replier and more
  // specific bindings may coexist with it.
  test("repliers for '$.a.*', '$.a.%' and '$.a.b' can all be bound at once", () => {
    const engine = new Engine();
    assert.doesNotThrow(() => engine.open().bind('$.a.*', true));
    assert.doesNotThrow(() => engine.open().bind('$.a.%', true));
    assert.doesNotThrow(() => engine.open().bind('$.a.b', true));
  });

  // kbus.c kbus_bind: "cannot bind $.KBUS.ReplierBindEvent as a Replier"
  // (EBADMSG); listening to it is how bind events are received.
  test('binding as replier to $.KBUS.ReplierBindEvent is EBADMSG', () => {
    const k = new Engine().open();
    throwsCode(() => k.bind(MessageNames.REPLIER_BIND_EVENT, true), 'EBADMSG');
    assert.doesNotThrow(() => k.bind(MessageNames.REPLIER_BIND_EVENT));
    assert.equal(k.replier(MessageNames.REPLIER_BIND_EVENT), 0);
  });
});

describe('replier specificity', () => {
  /** Sends a request and returns which of `repliers` received it (index), checking only one did. */
  function whoGets(sender: Ksock, repliers: Ksock[], name: string): number {
    const id = sendRequest(sender, name);
    const got: number[] = [];
    repliers.forEach((r, i) => {
      const m = r.nextMessage();
      if (m === undefined) return;
      got.push(i);
      assert.deepEqual(m.id, id);
      assert.equal(m.name, name);
      assert.ok(m.flags & Flags.WANT_YOU_TO_REPLY, 'the replier copy is marked WANT_YOU_TO_REPLY');
      assertEmpty(r);
    });
    assert.equal(got.length, 1, `${name}: expected exactly one replier, got ${got.length}`);
    return got[0]!;
  }

  // Kbus.txt "Repliers", the example: Replier 1 binds '$.Sensors.*',
  // Replier 2 '$.Sensors.%', Replier 3 '$.Sensors.Kitchen.Temperature'.
  test('the Kbus.txt Sensors example routes each request to the most specific replier', () => {
    const engine = new Engine();
    const r1 = engine.open();
    const r2 = engine.open();
    const r3 = engine.open();
    const sender = engine.open();
    r1.bind('$.Sensors.*', true);
    r2.bind('$.Sensors.%', true);
    r3.bind('$.Sensors.Kitchen.Temperature', true);
    const repliers = [r1, r2, r3];
    // "A message named '$.Sensors.Kitchen.Temperature' will go to replier 3."
    assert.equal(whoGets(sender, repliers, '$.Sensors.Kitchen.Temperature'), 2);
    // "A message named '$.Sensors.Kitchen' or '$.Sensors.LivingRoom' will go to replier 2."
    assert.equal(whoGets(sender, repliers, '$.Sensors.Kitchen'), 1);
    assert.equal(whoGets(sender, repliers, '$.Sensors.LivingRoom'), 1);
    // "A message named '$.Sensors.LivingRoom.Temperature' will go to replier 1."
    assert.equal(whoGets(sender, repliers, '$.Sensors.LivingRoom.Temperature'), 0);
  });

  // Kbus.txt "Repliers": the wildcard replier is the *default* replier, so
  // when the more specific ones go, it receives their requests again.
  test('when a more specific replier unbinds, the wildcard replier takes its requests', () => {
    const engine = new Engine();
    const r1 = engine.open();
    const r2 = engine.open();
    const r3 = engine.open();
    const sender = engine.open();
    r1.bind('$.Sensors.*', true);
    r2.bind('$.Sensors.%', true);
    r3.bind('$.Sensors.Kitchen.Temperature', true);
    const repliers = [r1, r2, r3];
    r3.unbind('$.Sensors.Kitchen.Temperature', true);
    // '%' covers one level only, so this falls back to '$.Sensors.*'.
    assert.equal(whoGets(sender, repliers, '$.Sensors.Kitchen.Temperature'), 0);
    r2.unbind('$.Sensors.%', true);
    assert.equal(whoGets(sender, repliers, '$.Sensors.Kitchen'), 0);
  });

  // Kbus.txt "Repliers": "'$.Fred.Jim' is more specific than '$.Fred.%'
  // which in turn is more specific than '$.Fred.*'", whatever the binding order.
  test('specificity does not depend on the order the repliers bound in', () => {
    const engine = new Engine();
    const exact = engine.open();
    const percent = engine.open();
    const star = engine.open();
    const sender = engine.open();
    exact.bind('$.Fred.Jim', true);
    percent.bind('$.Fred.%', true);
    star.bind('$.Fred.*', true);
    const repliers = [exact, percent, star];
    assert.equal(whoGets(sender, repliers, '$.Fred.Jim'), 0);
    assert.equal(whoGets(sender, repliers, '$.Fred.Bob'), 1);
    assert.equal(whoGets(sender, repliers, '$.Fred.Bob.Jim'), 2);
  });
});

describe('REPLIER', () => {
  // Kbus.txt "IOCTLS": REPLIER "returns 0 or the Ksock id of the replier";
  // protocol.md "Points ... settled": REPLIER matches the bound name
  // exactly (kbus.c), wildcards included.
  test('REPLIER returns the id of the replier bound to exactly that name, wildcards included', () => {
    const engine = new Engine();
    const r1 = engine.open();
    const r2 = engine.open();
    const r3 = engine.open();
    const asker = engine.open();
    r1.bind('$.Sensors.*', true);
    r2.bind('$.Sensors.%', true);
    r3.bind('$.Sensors.Kitchen.Temperature', true);
    assert.equal(asker.replier('$.Sensors.*'), r1.id);
    assert.equal(asker.replier('$.Sensors.%'), r2.id);
    assert.equal(asker.replier('$.Sensors.Kitchen.Temperature'), r3.id);
    // A name only covered by a wildcard has no replier bound to exactly it.
    assert.equal(asker.replier('$.Sensors.Kitchen'), 0);
    assert.equal(asker.replier('$.Sensors.Kitchen.Humidity'), 0);
  });

  // Kbus.txt "IOCTLS": REPLIER returns 0 when there is no replier; a
  // listener binding is not a replier.
  test('REPLIER returns 0 for a name with only listeners, and after the replier unbinds', () => {
    const engine = new Engine();
    const listener = engine.open();
    const replier = engine.open();
    listener.bind('$.Fred');
    assert.equal(listener.replier('$.Fred'), 0);
    replier.bind('$.Fred', true);
    assert.equal(listener.replier('$.Fred'), replier.id);
    replier.unbind('$.Fred', true);
    assert.equal(listener.replier('$.Fred'), 0);
  });

  // kbus.c kbus_replier: a name of length 0 or over KBUS_MAX_NAME_LEN is
  // ENAMETOOLONG.
  test('REPLIER with an empty name or one over 1000 characters is ENAMETOOLONG', () => {
    const k = new Engine().open();
    throwsCode(() => k.replier(''), 'ENAMETOOLONG');
    throwsCode(() => k.replier(nameOfLength(1001)), 'ENAMETOOLONG');
    assert.equal(k.replier(nameOfLength(1000)), 0);
  });
});

describe('repliers receive only requests', () => {
  // Kbus.txt "Repliers": "Repliers only receive Requests (messages that are
  // marked as wanting a reply)."
  test('an announcement is not delivered to a Ksock bound only as replier', () => {
    const engine = new Engine();
    const replier = engine.open();
    const listener = engine.open();
    const sender = engine.open();
    replier.bind('$.Fred', true);
    listener.bind('$.Fred');
    sender.sendMessage({ name: '$.Fred' });
    assertEmpty(replier);
    assert.equal(listener.numMessages(), 1);
  });

  // Kbus.txt "Repliers": a wildcard replier gets the requests it is replier
  // for, marked WANT_YOU_TO_REPLY, and no announcements.
  test('a wildcard replier receives requests but not announcements', () => {
    const engine = new Engine();
    const replier = engine.open();
    const sender = engine.open();
    replier.bind('$.Sensors.*', true);
    sender.sendMessage({ name: '$.Sensors.Kitchen' });
    assertEmpty(replier);
    const id = sendRequest(sender, '$.Sensors.Kitchen');
    const got = next(replier);
    assert.deepEqual(got.id, id);
    assert.ok(got.flags & Flags.WANT_YOU_TO_REPLY);
  });
});
