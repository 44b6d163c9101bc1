/**
 * `kbus capture` and `kbus replay` as real processes against a real kbusd:
 * the capture file's lines (header, ids, flags, from/to, data in base64,
 * times), replay of announcements and requests (replies and status
 * messages skipped), the recorded pace, and a file that is not a capture.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BusInfo, type KbusMessage, Ksock } from '../../src/client/index.js';
import { Flags } from '../../src/wire/index.js';
import { type RunningDaemon, startDaemon, tempDir } from '../support/daemon.js';
import { Background, DEADLINE_MS, kbus, killStragglers, waitFor } from './helpers.js';

/** `n` messages as kbus says it: "1 message", "2 messages" (the capture's counts vary run to run). */
function counted(n: number): string {
  return `${n} message${n === 1 ? '' : 's'}`;
}

describe('kbus capture and replay', () => {
  let daemon: RunningDaemon;
  const dir = tempDir('kbus-capture-');
  const clients: Ksock[] = [];

  before(async () => {
    daemon = await startDaemon();
  });
  after(async () => {
    await killStragglers();
    for (const c of clients) await c.close().catch(() => {});
    await daemon.stop();
    dir.remove();
  });

  async function client(): Promise<Ksock> {
    const k = await Ksock.connect({ socket: daemon.socket });
    clients.push(k);
    return k;
  }

  async function waitForBinding(name: string): Promise<void> {
    await using info = await BusInfo.connect(daemon.socket);
    await waitFor(async () => (await info.bindings()).includes(name), `a binding to ${name}`);
  }

  const file = join(dir.path, 'cap.jsonl');

  test('capture writes a header and one line per message, with ids, flags, from/to, data and times', async () => {
    const capture = new Background(['capture', '$.Cap.*', '-w', file, '--count', '5'], {
      socket: daemon.socket,
    });
    await waitForBinding('$.Cap.*');
    const sender = await client();
    const replier = await client();
    await replier.bind('$.Cap.Svc', { replier: true });
    const one = await sender.announce('$.Cap.A', 'one');
    await sender.announce('$.Cap.B', new Uint8Array([0, 1, 0xff]));
    await sender.announce('$.Cap.A', 'urgent', { flags: Flags.URGENT | 0x10000 });
    const pending = sender.request('$.Cap.Svc', 'question', { timeout: DEADLINE_MS });
    const request = await replier.receive({ timeout: DEADLINE_MS });
    await replier.replyTo(request, 'answer');
    await pending;
    await replier.close();

    const done = await capture.exit();
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stderr, /captured 5 messages/);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 6);
    const header = JSON.parse(lines[0]!);
    assert.equal(header.format, 'kbus-capture');
    assert.equal(header.version, 1);
    assert.equal(header.device, 0);
    assert.deepEqual(header.patterns, ['$.Cap.*']);
    assert.ok(Math.abs(header.start - Date.now()) < 10 * 60_000);
    const m = lines.slice(1).map((l) => JSON.parse(l));
    assert.deepEqual(
      m.map((x) => [x.kind, x.name]),
      [
        ['announcement', '$.Cap.A'],
        ['announcement', '$.Cap.B'],
        ['announcement', '$.Cap.A'],
        ['request', '$.Cap.Svc'],
        ['reply', '$.Cap.Svc'],
      ],
    );
    assert.deepEqual(m[0].id, [one.networkId, one.serialNum]);
    assert.equal(m[0].from, sender.id);
    assert.equal(Buffer.from(m[0].data, 'base64').toString(), 'one');
    assert.deepEqual([...Buffer.from(m[1].data, 'base64')], [0, 1, 0xff]);
    assert.equal(m[2].flags, Flags.URGENT | 0x10000);
    assert.equal(m[3].flags & Flags.WANT_A_REPLY, Flags.WANT_A_REPLY);
    assert.deepEqual(m[4].inReplyTo, m[3].id);
    assert.equal(m[4].to, sender.id);
    assert.equal(m[4].from, replier.id);
    for (let i = 1; i < m.length; i++) assert.ok(m[i].t >= m[i - 1].t, 'times ascend');
  });

  test('replay sends the announcements and requests again, skipping replies', async () => {
    const listener = await client();
    await listener.bind('$.Cap.*');
    const replier = await client();
    await replier.bind('$.Cap.Svc', { replier: true });
    const answering = (async () => {
      const request = await replier.receive({ timeout: DEADLINE_MS });
      await replier.replyTo(request, 'again');
    })();
    const done = await kbus(['replay', '--pace', 'fast', file], { socket: daemon.socket });
    await answering;
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stderr, /replayed 4 messages \(3 announcements, 1 requests\); skipped 1 /);
    const got: KbusMessage[] = [];
    for (let i = 0; i < 5; i++) got.push(await listener.receive({ timeout: DEADLINE_MS }));
    // The URGENT one jumps the queue only if it is still queued; compare as a set of facts.
    const byData = new Map(got.map((x) => [Buffer.from(x.data).toString('latin1'), x]));
    assert.equal(byData.get('one')?.kind, 'announcement');
    assert.equal(byData.get('\u0000\u0001\u00ff')?.name, '$.Cap.B');
    assert.equal(byData.get('urgent')?.flags, Flags.URGENT | 0x10000);
    assert.equal(byData.get('question')?.kind, 'request');
    assert.equal(byData.get('again')?.kind, 'reply');
    assert.notEqual(byData.get('one')?.from, listener.id);
  });

  test('--pace recorded keeps the gaps between messages', async () => {
    const paced = join(dir.path, 'paced.jsonl');
    const line = (t: number, data: string) =>
      JSON.stringify({
        t,
        kind: 'announcement',
        id: [0, 1],
        inReplyTo: [0, 0],
        to: 0,
        from: 1,
        origFrom: [0, 0],
        finalTo: [0, 0],
        flags: 0,
        name: '$.Pace.X',
        data: Buffer.from(data).toString('base64'),
      });
    writeFileSync(
      paced,
      `${JSON.stringify({ format: 'kbus-capture', version: 1, device: 0, patterns: ['$.Pace.X'], start: 0 })}\n${line(0, 'a')}\n${line(400, 'b')}\n`,
    );
    const listener = await client();
    await listener.bind('$.Pace.X');
    const replay = kbus(['replay', paced], { socket: daemon.socket });
    const a = await listener.receive({ timeout: DEADLINE_MS });
    const aAt = performance.now();
    const b = await listener.receive({ timeout: DEADLINE_MS });
    const gap = performance.now() - aAt;
    const done = await replay;
    assert.equal(done.code, 0, done.stderr);
    assert.equal(a.text(), 'a');
    assert.equal(b.text(), 'b');
    // A lower bound only: the replay waits 400 ms; a late first message can shrink the gap a little.
    assert.ok(gap >= 300, `the second message came ${gap} ms after the first`);
  });

  test('a file that is not a capture is refused before anything is sent, naming the line', async () => {
    const bad = join(dir.path, 'bad.jsonl');
    writeFileSync(bad, '{"hello":1}\n');
    const done = await kbus(['replay', bad], { socket: daemon.socket });
    assert.equal(done.code, 1);
    assert.match(done.stderr, /line 1: not a kbus capture file/);
    const broken = join(dir.path, 'broken.jsonl');
    writeFileSync(broken, `${readFileSync(file, 'utf8').split('\n')[0]}\n{"t":1}\n`);
    const done2 = await kbus(['replay', broken], { socket: daemon.socket });
    assert.equal(done2.code, 1);
    assert.match(done2.stderr, /line 2: a message needs/);
  });

  test('messages lost to a full queue are recorded as missed, counted at the end, and noted by replay', async () => {
    const lossy = join(dir.path, 'lossy.jsonl');
    const capture = new Background(['capture', '$.Miss.*', '-w', lossy, '--max-messages', '1'], {
      socket: daemon.socket,
    });
    await waitForBinding('$.Miss.*');
    // Stopped, it reads nothing: its credit and socket fill, then its queue of one.
    capture.child.kill('SIGSTOP');
    const sender = await client();
    const sent = 2000;
    const data = new Uint8Array(1024);
    for (let i = 0; i < sent; i++) await sender.announce('$.Miss.A', data);
    capture.child.kill('SIGCONT');

    const tally = () => {
      const lines = readFileSync(lossy, 'utf8')
        .split('\n')
        .slice(1, -1)
        .map((l) => JSON.parse(l));
      const missed = lines.filter((l) => l.kind === 'missed');
      return {
        messages: lines.length - missed.length,
        missed: missed.reduce((n, l) => n + l.count, 0),
      };
    };
    await waitFor(() => {
      const t = tally();
      return t.messages + t.missed === sent;
    }, 'every message captured or counted as missed');
    const { messages, missed } = tally();
    assert.ok(missed > 0, 'some were missed');
    const done = await capture.stop('SIGINT');
    assert.equal(done.code, 0, done.stderr);
    assert.match(
      done.stderr,
      new RegExp(`captured ${counted(messages)} to .*; missed ${missed}: `),
    );
    assert.deepEqual(tally(), { messages, missed }, 'the end added nothing');

    const replay = await kbus(['replay', '--pace', 'fast', lossy], { socket: daemon.socket });
    assert.equal(replay.code, 0, replay.stderr);
    assert.match(replay.stderr, new RegExp(`replayed ${counted(messages)} `));
    assert.match(replay.stderr, new RegExp(`the capture missed ${counted(missed)} `));
  });
});
