/**
 * Unit tests of src/cli/proc-parse.ts: the /proc/kbus texts the engine
 * writes, read back into records (what `kbus top` draws from).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type KsockStats, parseBindings, parseStats } from '../../src/cli/proc-parse.js';
import { Engine, type EngineKsock as Ksock, OpenMode } from '../../src/engine/index.js';
import { Flags, KbusError, MessageNames } from '../../src/wire/index.js';

const RW = OpenMode.READ_WRITE;

/** A bindings line as kbus.c prints it. */
function bindingLine(b: {
  device: number;
  ksock: number;
  pid: number;
  replier: boolean;
  name: string;
}): string {
  const pad = (n: number, w: number) => String(n).padStart(w);
  return `${pad(b.device, 3)}: ${pad(b.ksock, 8)} ${pad(b.pid, 8)}  ${b.replier ? 'R' : 'L'}  ${b.name}`;
}

/** Two devices with listeners, repliers, queued messages, requests, a pending send. */
function busyEngine() {
  const engine = new Engine({ devices: 2 });
  // Device 0
  const listener = engine.open(0, RW, 111);
  listener.bind('$.A');
  listener.bind('$.B.*');
  listener.setMaxMessages(5);
  const replier = engine.open(0, RW, 222);
  replier.bind('$.Svc', true);
  replier.bind('$.Svc.%', true);
  const sender = engine.open(0, RW, 333);
  sender.sendMessage({ name: '$.A', data: new Uint8Array([1, 2, 3]) });
  sender.sendMessage({ name: '$.B.c.d' });
  sender.sendMessage({ name: '$.Svc', flags: Flags.WANT_A_REPLY });
  replier.nextMsg(); // read, not replied to: UNREPLIEDTO 1
  const asker = engine.open(0, RW, 333);
  asker.sendMessage({ name: '$.Svc.x', flags: Flags.WANT_A_REPLY }); // unread by the replier
  const last0 = asker.sendMessage({ name: '$.A', data: new Uint8Array(10) });
  // Device 1
  const full = engine.open(1, RW, 444);
  full.bind('$.D1');
  full.setMaxMessages(1);
  const waiting = engine.open(1, RW, 555);
  waiting.sendMessage({ name: '$.D1' });
  assert.throws(
    () => waiting.sendMessage({ name: '$.D1', flags: Flags.ALL_OR_WAIT }),
    (err: unknown) => err instanceof KbusError && err.code === 'EAGAIN',
  );
  const writer = engine.open(1, RW, 666);
  writer.write(new Uint8Array([1, 2, 3, 4])); // a message half written
  return { engine, listener, replier, sender, asker, last0, full, waiting, writer };
}

describe('parseBindings', () => {
  test('every binding line of the engine text, read back exactly (round trip)', () => {
    const { engine } = busyEngine();
    const text = engine.bindingsText();
    const records = parseBindings(text);
    const lines = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    assert.equal(records.length, lines.length);
    assert.deepEqual(records.map(bindingLine), lines);
  });

  test('the records: device, Ksock, pid, replier or listener, name (wildcards too)', () => {
    const { engine, listener, replier, full } = busyEngine();
    const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
    assert.deepEqual(parseBindings(engine.bindingsText()).sort(byName), [
      { device: 0, ksock: listener.id, pid: 111, replier: false, name: '$.A' },
      { device: 0, ksock: listener.id, pid: 111, replier: false, name: '$.B.*' },
      { device: 1, ksock: full.id, pid: 444, replier: false, name: '$.D1' },
      { device: 0, ksock: replier.id, pid: 222, replier: true, name: '$.Svc' },
      { device: 0, ksock: replier.id, pid: 222, replier: true, name: '$.Svc.%' },
    ]);
  });

  test('no bindings: none; wide ids and pids still parse; other lines are ignored', () => {
    assert.deepEqual(parseBindings(new Engine({ devices: 3 }).bindingsText()), []);
    assert.deepEqual(parseBindings(''), []);
    const wide = { device: 255, ksock: 123456789, pid: 4194304, replier: true, name: '$.W' };
    assert.deepEqual(parseBindings(`# header\n${bindingLine(wide)}\nnonsense\n\n`), [wide]);
  });

  test('bindings that come and go', () => {
    const engine = new Engine();
    const k = engine.open(0, RW, 9);
    k.bind('$.X');
    k.bind('$.Y', true);
    assert.equal(parseBindings(engine.bindingsText()).length, 2);
    k.unbind('$.X');
    assert.deepEqual(parseBindings(engine.bindingsText()), [
      { device: 0, ksock: k.id, pid: 9, replier: true, name: '$.Y' },
    ]);
    k.close();
    assert.deepEqual(parseBindings(engine.bindingsText()), []);
  });
});

describe('parseStats', () => {
  test('devices and their counters, from the engine text', () => {
    const { engine, last0, waiting } = busyEngine();
    const devices = parseStats(engine.statsText());
    assert.equal(devices.length, 2);
    const [d0, d1] = devices;
    assert.equal(d0!.index, 0);
    assert.equal(d1!.index, 1);
    assert.equal(d0!.nextMessage, last0.serialNum + 1);
    assert.equal(d1!.nextMessage, waiting.lastSent().serialNum + 1);
    for (const d of devices) {
      assert.equal(d.unsentUnbindings, 0);
      assert.equal(d.tragic, false);
      assert.equal(d.nextKsock, Math.max(...d.ksocks.map((k) => k.id)) + 1);
    }
  });

  test("each Ksock's queue, limit, sending, outstanding requests and unsent replies", () => {
    const { engine, listener, replier, sender, asker, full, waiting, writer } = busyEngine();
    const [d0, d1] = parseStats(engine.statsText());
    const expect = (k: Ksock, o: Partial<KsockStats>): KsockStats => ({
      id: k.id,
      queued: k.numMessages(),
      maxMessages: k.setMaxMessages(),
      sending: false,
      outstanding: 0,
      unreplied: k.unrepliedTo(),
      ...o,
    });
    const byId = (a: { id: number }, b: { id: number }) => a.id - b.id;
    assert.deepEqual(d0!.ksocks.sort(byId), [
      expect(listener, { queued: 3, maxMessages: 5 }),
      expect(replier, { queued: 1, unreplied: 1 }),
      expect(sender, { outstanding: 1 }),
      expect(asker, { outstanding: 1 }),
    ]);
    assert.deepEqual(d1!.ksocks.sort(byId), [
      expect(full, { queued: 1, maxMessages: 1 }),
      expect(waiting, { sending: true }),
      expect(writer, {}),
    ]);
  });

  test('the stats of the text kbus.c would print, newest Ksock first', () => {
    const { engine, writer, full } = busyEngine();
    const ids = parseStats(engine.statsText())[1]!.ksocks.map((k) => k.id);
    assert.equal(ids[0], writer.id);
    assert.equal(ids.at(-1), full.id);
  });

  test('no Ksocks; an empty text; lines before any device are ignored', () => {
    const text = new Engine().statsText();
    const [, nextKsock, nextMessage] = /next ksock (\d+) next msg (\d+)/.exec(text)!;
    assert.deepEqual(parseStats(text), [
      {
        index: 0,
        nextKsock: Number(nextKsock),
        nextMessage: Number(nextMessage),
        unsentUnbindings: 0,
        tragic: false,
        ksocks: [],
      },
    ]);
    assert.deepEqual(parseStats(''), []);
    assert.deepEqual(parseStats('    ksock 3 last msg 0:0 queue 0 of 100\n'), []);
  });

  test('unsent unbind events and "(gone tragic)"', () => {
    const engine = new Engine({ maxUnsentUnbind: 1 });
    const watcher = engine.open(0, OpenMode.READ);
    watcher.bind(MessageNames.REPLIER_BIND_EVENT);
    watcher.bind('$.Filler');
    watcher.reportReplierBinds(true);
    const repliers = [0, 1, 2].map((i) => {
      const r = engine.open(0, RW, 77);
      r.bind(`$.R${i}`, true);
      return r;
    });
    let events = 0;
    for (let n = watcher.nextMsg(); n > 0; n = watcher.nextMsg()) events++;
    assert.equal(events, 3, 'the bind events');
    watcher.setMaxMessages(1);
    engine.open(0).sendMessage({ name: '$.Filler' });
    repliers[0]!.close();
    let [device] = parseStats(engine.statsText());
    assert.equal(device!.unsentUnbindings, 1);
    assert.equal(device!.tragic, false);
    repliers[1]!.close();
    [device] = parseStats(engine.statsText());
    assert.equal(device!.unsentUnbindings, 2);
    assert.equal(device!.tragic, true);
    // The watcher's queue counts the set-aside events too (NUMMSGS).
    const w = device!.ksocks.find((k) => k.id === watcher.id)!;
    assert.equal(w.maxMessages, 1);
  });
});
