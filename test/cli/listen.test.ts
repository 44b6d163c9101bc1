/**
 * `kbus listen` as a real process against a real kbusd: one line per
 * message (kind, id, name, from, to, in-reply-to, flags, data as text or
 * hex), --json lines, --count, wildcards, several names, --replier, and
 * stopping on SIGINT / SIGTERM with exit 0.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import { Flags } from '../../src/wire/index.js';
import { type RunningDaemon, startDaemon } from '../support/daemon.js';
import {
  assertExit,
  assertNoColour,
  DEADLINE_MS,
  kbus,
  killStragglers,
  listening,
  waitForNoBindings,
} from './helpers.js';

describe('kbus listen', () => {
  let daemon: RunningDaemon;
  let socket: string;
  const clients: Ksock[] = [];

  before(async () => {
    daemon = await startDaemon();
    socket = daemon.socket;
  });

  after(async () => {
    await killStragglers();
    for (const client of clients) await client.close().catch(() => {});
    await daemon.stop();
  });

  async function client(): Promise<Ksock> {
    const ksock = await Ksock.connect({ socket });
    clients.push(ksock);
    return ksock;
  }

  test('one line per message: kind, id, name, from, to, in-reply-to, flags, data', async () => {
    const listener = await listening(socket, ['--count', '6'], ['$.Lis.Text', '$.Lis.Svc']);
    const sender = await client();
    const replier = await client();
    await replier.bind('$.Lis.Svc', { replier: true });

    const text = await sender.send({ name: '$.Lis.Text', data: 'hello "world"\n' });
    const binary = await sender.send({ name: '$.Lis.Text', data: new Uint8Array([0, 1, 0xff]) });
    const urgent = await sender.send({ name: '$.Lis.Text', flags: Flags.URGENT | 0x10000 });
    const pending = sender.request('$.Lis.Svc', 'question', { timeout: DEADLINE_MS });
    const request = await replier.receive({ timeout: DEADLINE_MS });
    const replyId = await replier.replyTo(request, 'answer');
    const reply = await pending;
    assert.equal(reply.kind, 'reply');
    const empty = await sender.send({ name: '$.Lis.Text' });

    const done = await listener.exit();
    assertExit(done, 0, 'listen --count 6');
    assert.equal(done.stderr, '', 'nothing on stderr when it is not a terminal');
    assertNoColour(done.stdout);
    const s = sender.id;
    const r = replier.id;
    assert.deepEqual(done.stdout.split('\n'), [
      `announcement {0,${text.serialNum}} $.Lis.Text from ${s} to 0 data "hello \\"world\\"\\n"`,
      `announcement {0,${binary.serialNum}} $.Lis.Text from ${s} to 0 data 0x0001ff`,
      `announcement {0,${urgent.serialNum}} $.Lis.Text from ${s} to 0 flags URGENT|0x10000`,
      `request      {0,${request.id.serialNum}} $.Lis.Svc from ${s} to 0 flags WANT_A_REPLY data "question"`,
      `reply        {0,${replyId.serialNum}} $.Lis.Svc from ${r} to ${s} in-reply-to {0,${request.id.serialNum}} data "answer"`,
      `announcement {0,${empty.serialNum}} $.Lis.Text from ${s} to 0`,
      '',
    ]);
  });

  test('--json: one object per line, with kind, id, names of flags, data and hex', async () => {
    const listener = await listening(socket, ['--json', '--count', '2'], ['$.Lis.Json']);
    const sender = await client();
    const a = await sender.send({ name: '$.Lis.Json', data: 'text', flags: Flags.URGENT });
    const b = await sender.send({ name: '$.Lis.Json', data: new Uint8Array([0x80, 0]) });
    const done = await listener.exit();
    assertExit(done, 0);
    const lines = done.stdout.split('\n');
    assert.equal(lines.pop(), '');
    const [first, second] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(first, {
      kind: 'announcement',
      id: a,
      name: '$.Lis.Json',
      from: sender.id,
      to: 0,
      inReplyTo: { networkId: 0, serialNum: 0 },
      origFrom: { networkId: 0, localId: 0 },
      finalTo: { networkId: 0, localId: 0 },
      flags: Flags.URGENT,
      flagNames: ['URGENT'],
      data: 'text',
      dataHex: '74657874',
    });
    assert.deepEqual(second!.id, b);
    assert.equal(second!.data, null, 'binary data is null, with dataHex');
    assert.equal(second!.dataHex, '8000');
  });

  test('--count N prints exactly N messages and exits 0, leaving later ones', async () => {
    const listener = await listening(socket, ['-n', '2'], ['$.Lis.Count']);
    const sender = await client();
    for (const data of ['one', 'two', 'three']) await sender.send({ name: '$.Lis.Count', data });
    const done = await listener.exit();
    assertExit(done, 0);
    const lines = done.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /data "one"$/);
    assert.match(lines[1]!, /data "two"$/);
    await waitForNoBindings(socket, listener.pid);
  });

  test("wildcards: '$.Lis.W.*' takes every level below, '$.Lis.P.%' one level only", async () => {
    const star = await listening(socket, ['--count', '2'], ['$.Lis.W.*']);
    const percent = await listening(socket, ['--count', '2'], ['$.Lis.P.%']);
    const sender = await client();
    await sender.send({ name: '$.Lis.W', data: 'not below' });
    await sender.send({ name: '$.Lis.P.deep.down', data: 'too deep' });
    await sender.send({ name: '$.Lis.W.a', data: 'w1' });
    await sender.send({ name: '$.Lis.W.a.b.c', data: 'w2' });
    await sender.send({ name: '$.Lis.P.x', data: 'p1' });
    await sender.send({ name: '$.Lis.P.y', data: 'p2' });
    const starDone = await star.exit();
    const percentDone = await percent.exit();
    assertExit(starDone, 0);
    assertExit(percentDone, 0);
    const names = (out: string) =>
      out
        .trim()
        .split('\n')
        .map((line) => line.split(/ +/)[2]);
    assert.deepEqual(names(starDone.stdout), ['$.Lis.W.a', '$.Lis.W.a.b.c']);
    assert.deepEqual(
      percentDone.stdout
        .trim()
        .split('\n')
        .map((line) => line.split(' ').slice(-2).join(' ')),
      ['data "p1"', 'data "p2"'],
    );
    assert.deepEqual(names(percentDone.stdout), ['$.Lis.P.x', '$.Lis.P.y']);
  });

  test('several names: messages to any of them, in the order sent', async () => {
    const names = ['$.Lis.Multi.A', '$.Lis.Multi.B', '$.Lis.Multi.C'];
    const listener = await listening(socket, ['--count', '3'], names);
    const sender = await client();
    await sender.send({ name: '$.Lis.Multi.Other', data: 'not bound' });
    for (const name of [...names].reverse()) await sender.send({ name, data: name });
    const done = await listener.exit();
    assertExit(done, 0);
    assert.deepEqual(
      done.stdout
        .trim()
        .split('\n')
        .map((line) => line.split(/ +/)[2]),
      [...names].reverse(),
    );
  });

  test('--replier binds as replier and prints the request with WANT_YOU_TO_REPLY', async () => {
    const listener = await listening(socket, ['--replier', '--count', '1'], ['$.Lis.Rep'], true);
    const sender = await client();
    const id = await sender.send({ name: '$.Lis.Rep', data: 'req', flags: Flags.WANT_A_REPLY });
    const done = await listener.exit();
    assertExit(done, 0);
    assert.equal(
      done.stdout,
      `request      {0,${id.serialNum}} $.Lis.Rep from ${sender.id} to 0 flags WANT_A_REPLY|WANT_YOU_TO_REPLY data "req"\n`,
    );
    // It exited without replying: the sender is told.
    const status = await sender.receive({ timeout: DEADLINE_MS });
    assert.equal(status.kind, 'status');
    assert.deepEqual(status.inReplyTo, id);
  });

  test('a second replier for the same name exits 98 (EADDRINUSE)', async () => {
    const first = await client();
    await first.bind('$.Lis.Taken', { replier: true });
    const result = await kbus(['listen', '--replier', '$.Lis.Taken'], { socket });
    assertExit(result, 98);
    assert.match(result.stderr, /EADDRINUSE/);
  });

  test('SIGINT stops it with exit 0 and its bindings go', async () => {
    const listener = await listening(socket, [], ['$.Lis.Int']);
    const sender = await client();
    await sender.send({ name: '$.Lis.Int', data: 'before' });
    await listener.waitForOutput((out) => out.includes('"before"'), 'the message to be printed');
    const done = await listener.stop('SIGINT');
    assertExit(done, 0, 'listen after SIGINT');
    assert.equal(done.signal, null);
    assert.equal(done.stderr, '');
    await waitForNoBindings(socket, listener.pid);
  });

  test('SIGTERM stops it with exit 0 too', async () => {
    const listener = await listening(socket, ['--json'], ['$.Lis.Term']);
    const done = await listener.stop('SIGTERM');
    assertExit(done, 0, 'listen after SIGTERM');
    assert.equal(done.stdout, '');
    await waitForNoBindings(socket, listener.pid);
  });

  test('a bad name exits 74 (EBADMSG); no name exits 64; a bad --count exits 64', async () => {
    for (const name of ['$.Lis.', '', 'foo']) {
      const bad = await kbus(['listen', '$.Lis.Good', name], { socket });
      assertExit(bad, 74);
      assert.match(bad.stderr, /EBADMSG/);
      assert.match(bad.stderr, /or a wildcard such as '\$\.Sensors\.\*'/);
    }
    const none = await kbus(['listen'], { socket });
    assertExit(none, 64);
    for (const count of ['0', 'lots', '-3']) {
      const result = await kbus(['listen', '--count', count, '$.Lis.X'], { socket });
      assertExit(result, 64, `--count ${count}`);
    }
  });
});
