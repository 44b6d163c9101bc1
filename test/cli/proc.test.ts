/**
 * `kbus bindings` and `kbus stats` as real processes against a real kbusd:
 * the /proc/kbus formats, a listener's binding line while it runs, queue
 * counts, several devices, and `stats --watch` into a pipe until SIGINT.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import { type RunningDaemon, startDaemon } from '../support/daemon.js';
import {
  assertExit,
  assertNoColour,
  Background,
  bindingPattern,
  kbus,
  killStragglers,
  listening,
  waitForNoBindings,
} from './helpers.js';

const HEADER =
  '# <device> is bound to <Ksock-ID> in <process-PID> as <Replier|Listener> for <message-name>';

describe('kbus bindings and kbus stats', () => {
  let daemon: RunningDaemon;
  let socket: string;
  const clients: Ksock[] = [];

  before(async () => {
    daemon = await startDaemon(['--devices', '2']);
    socket = daemon.socket;
  });

  after(async () => {
    await killStragglers();
    for (const client of clients) await client.close().catch(() => {});
    await daemon.stop();
  });

  async function client(device = 0): Promise<Ksock> {
    const ksock = await Ksock.connect({ socket, device });
    clients.push(ksock);
    return ksock;
  }

  test('bindings: the header line for each device', async () => {
    const result = await kbus(['bindings'], { socket });
    assertExit(result, 0);
    assert.equal(result.stderr, '');
    const headers = result.stdout.split('\n').filter((line) => line.startsWith('#'));
    assert.deepEqual(headers, [HEADER, HEADER]);
    assert.ok(result.stdout.startsWith(`${HEADER}\n`));
  });

  test("bindings: a running listener's line `  0:        N      PID  L  $.name`, gone when it stops", async () => {
    const listener = await listening(socket, [], ['$.Proc.Watched', '$.Proc.Other.*']);
    const result = await kbus(['bindings'], { socket });
    assertExit(result, 0);
    assertNoColour(result.stdout);
    for (const name of ['$.Proc.Watched', '$.Proc.Other.*']) {
      const pattern = bindingPattern(listener.pid, name);
      assert.match(result.stdout, pattern);
      const line = result.stdout.split('\n').find((l) => pattern.test(l))!;
      // Device in 3 columns, Ksock id and pid in 8, as kbus.c prints them.
      assert.match(line, /^ {2}0: {1,8}\d{1,8} {1,8}\d+ {2}L {2}\$\./);
      assert.equal(line.indexOf('L  $.'), 3 + 2 + 8 + 1 + 8 + 2);
    }
    // Both names are bound by the same Ksock.
    const ids = result.stdout
      .split('\n')
      .filter((l) => l.includes(` ${listener.pid}  L  $.Proc.`))
      .map((l) => l.split(/ +/)[2]);
    assert.equal(ids.length, 2);
    assert.equal(ids[0], ids[1]);

    assertExit(await listener.stop('SIGINT'), 0);
    await waitForNoBindings(socket, listener.pid);
    const later = await kbus(['bindings'], { socket });
    assert.doesNotMatch(later.stdout, /\$\.Proc\.Watched/);
  });

  test('bindings: repliers show R, with their Ksock id and pid; other devices their index', async () => {
    const replier = await client();
    await replier.bind('$.Proc.Service', { replier: true });
    const other = await client(1);
    await other.bind('$.Proc.OnDeviceOne');
    const result = await kbus(['bindings'], { socket });
    assertExit(result, 0);
    const pad = (n: number) => String(n).padStart(8);
    assert.ok(
      result.stdout.includes(`\n  0: ${pad(replier.id)} ${pad(process.pid)}  R  $.Proc.Service\n`),
      result.stdout,
    );
    assert.ok(
      result.stdout.includes(
        `\n  1: ${pad(other.id)} ${pad(process.pid)}  L  $.Proc.OnDeviceOne\n`,
      ),
      result.stdout,
    );
    // Device 1's bindings come after its own header.
    const sections = result.stdout.split(`${HEADER}\n`);
    assert.equal(sections.length, 3);
    assert.ok(sections[1]!.includes('$.Proc.Service'));
    assert.ok(!sections[1]!.includes('$.Proc.OnDeviceOne'));
    assert.ok(sections[2]!.includes('$.Proc.OnDeviceOne'));
  });

  test("stats: 'dev  0: next ksock ...' for each device, and the command opens no Ksock", async () => {
    const result = await kbus(['stats'], { socket });
    assertExit(result, 0);
    assert.equal(result.stderr, '');
    assertNoColour(result.stdout);
    const lines = result.stdout.split('\n');
    assert.match(lines[0]!, /^dev {2}0: next ksock \d+ next msg \d+ unsent unbindings 0$/);
    assert.match(result.stdout, /^dev {2}1: next ksock \d+ next msg \d+ unsent unbindings 0$/m);
    // STATS before OPEN (protocol.md): the command is not among the Ksocks it lists,
    // and no Ksock id was spent on it.
    const listed = [...result.stdout.matchAll(/^ {4}ksock (\d+) /gm)].map((m) => Number(m[1]));
    const open = clients.filter((k) => !k.closed && k.device === 0).map((k) => k.id);
    const device0 = result.stdout.split(/^dev {2}1:/m)[0]!;
    const listed0 = [...device0.matchAll(/^ {4}ksock (\d+) /gm)].map((m) => Number(m[1]));
    assert.deepEqual(
      [...listed0].sort((a, b) => a - b),
      [...open].sort((a, b) => a - b),
    );
    assert.ok(listed.length >= listed0.length);
    const next = Number(/^dev {2}0: next ksock (\d+)/.exec(lines[0]!)![1]);
    const again = await kbus(['stats'], { socket });
    assert.equal(Number(/^dev {2}0: next ksock (\d+)/.exec(again.stdout)![1]), next);
  });

  test('a Ksock opened on device 0 is listed by stats with its queue line', async () => {
    const ksock = await client();
    const result = await kbus(['stats'], { socket });
    assertExit(result, 0);
    const lines = result.stdout.split('\n');
    const at = lines.indexOf(`    ksock ${ksock.id} last msg 0:0 queue 0 of 100`);
    assert.ok(at > 0, result.stdout);
    assert.match(
      lines[at + 1]!,
      /^ {6}read byte 0 of 0, wrote byte 0 of HDR \(not finished\), not sending$/,
    );
    assert.match(
      lines[at + 2]!,
      /^ {6}outstanding requests 0 \(size 16, max 0\), unsent replies 0 \(max 0\)$/,
    );
  });

  test("stats: a Ksock's queue and limit, and the next message number", async () => {
    const queued = await client();
    await queued.bind('$.Proc.Queue');
    await queued.maxMessages(7);
    let last = { networkId: 0, serialNum: 0 };
    for (let i = 0; i < 3; i++) last = await queued.send({ name: '$.Proc.Queue', data: `${i}` });
    const result = await kbus(['stats'], { socket });
    assertExit(result, 0);
    assert.match(
      result.stdout,
      new RegExp(`^ {4}ksock ${queued.id} last msg 0:${last.serialNum} queue 3 of 7$`, 'm'),
    );
    assert.match(
      result.stdout,
      new RegExp(`^dev {2}0: next ksock \\d+ next msg ${last.serialNum + 1} `, 'm'),
    );
  });

  test('--device 1 sends on device 1 only', async () => {
    const zero = await client(0);
    const one = await client(1);
    await zero.bind('$.Proc.Dev');
    await one.bind('$.Proc.Dev');
    const result = await kbus(['--device', '1', 'send', '$.Proc.Dev', 'one'], { socket });
    assertExit(result, 0);
    const message = await one.receive({ timeout: 20_000 });
    assert.equal(message.text(), 'one');
    assert.equal(await zero.numMessages(), 0);
    const short = await kbus(['-d', '1', 'send', '$.Proc.Dev', 'again'], { socket });
    assertExit(short, 0);
    assert.equal((await one.receive({ timeout: 20_000 })).text(), 'again');
  });

  test('--device that does not exist exits 2 (ENOENT); one out of range exits 64', async () => {
    const missing = await kbus(['--device', '5', 'stats'], { socket });
    assertExit(missing, 2);
    assert.match(missing.stderr, /ENOENT/);
    assert.match(
      missing.stderr,
      /has no device 5 .*give --device 0, or start kbusd with --devices 6$/m,
    );
    for (const bad of ['256', 'one']) {
      const result = await kbus(['--device', bad, 'stats'], { socket });
      assertExit(result, 64, `--device ${bad}`);
    }
  });

  test('stats --watch into a pipe prints snapshot after snapshot until SIGINT (exit 0)', async () => {
    const watcher = new Background(['stats', '--watch', '--interval', '0.1'], { socket });
    const snapshots = (out: string) => out.split('dev  0: next ksock').length - 1;
    await watcher.waitForOutput((out) => snapshots(out) >= 3, 'three snapshots');
    const done = await watcher.stop('SIGINT');
    assertExit(done, 0, 'stats --watch after SIGINT');
    assert.equal(done.signal, null);
    assertNoColour(done.stdout, done.stderr);
    // Each snapshot is the whole stats text, then a blank line.
    const parts = done.stdout.split(/\n\n/).filter((p) => p.length > 0);
    assert.ok(parts.length >= 3);
    for (const part of parts.slice(0, 3)) {
      assert.match(part, /^dev {2}0: next ksock \d+ next msg \d+ unsent unbindings \d+\n/);
      assert.match(part, /\ndev {2}1: next ksock /);
    }
  });

  test('stats -w also stops on SIGTERM (exit 0)', async () => {
    const watcher = new Background(['stats', '-w', '-i', '0.2'], { socket });
    await watcher.waitForOutput((out) => out.includes('dev  0:'), 'a snapshot');
    assertExit(await watcher.stop('SIGTERM'), 0);
  });

  test('stats --interval that is not a positive number exits 64', async () => {
    for (const value of ['0', 'fast']) {
      const result = await kbus(['stats', '--watch', '--interval', value], { socket });
      assertExit(result, 64, `--interval ${value}`);
    }
  });

  test('stats --watch refreshes many times without piling up listeners (no warning on stderr)', async () => {
    // Node warns (MaxListenersExceededWarning) once an eleventh listener is added.
    const watcher = new Background(['stats', '--watch', '--interval', '0.01'], { socket });
    const snapshots = (out: string) => out.split('dev  0: next ksock').length - 1;
    await watcher.waitForOutput((out) => snapshots(out) >= 25, 'twenty-five snapshots');
    const done = await watcher.stop('SIGINT');
    assertExit(done, 0, 'stats --watch');
    assert.equal(done.stderr, '');
  });

  test('--json bindings: one object per binding, one per line', async () => {
    const listener = await listening(socket, [], ['$.Proc.Json']);
    const replier = await client(1);
    await replier.bind('$.Proc.JsonService', { replier: true });
    const result = await kbus(['--json', 'bindings'], { socket });
    assertExit(result, 0);
    assert.ok(result.stdout.endsWith('\n'));
    const records = result.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.deepEqual(
      records.find((r) => r.name === '$.Proc.Json'),
      {
        device: 0,
        ksock: records.find((r) => r.name === '$.Proc.Json').ksock,
        pid: listener.pid,
        replier: false,
        name: '$.Proc.Json',
      },
    );
    assert.deepEqual(
      records.find((r) => r.name === '$.Proc.JsonService'),
      {
        device: 1,
        ksock: replier.id,
        pid: process.pid,
        replier: true,
        name: '$.Proc.JsonService',
      },
    );
    assertExit(await listener.stop('SIGINT'), 0);
  });

  test('--json stats: one line {"devices":[...]} per snapshot, also with --watch', async () => {
    const queued = await client();
    await queued.bind('$.Proc.JsonQueue');
    await queued.send({ name: '$.Proc.JsonQueue', data: 'x' });
    const result = await kbus(['stats', '--json'], { socket });
    assertExit(result, 0);
    const lines = result.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 1);
    const { devices } = JSON.parse(lines[0]!);
    assert.deepEqual(
      devices.map((d: { index: number }) => d.index),
      [0, 1],
    );
    const mine = devices[0].ksocks.find((k: { id: number }) => k.id === queued.id);
    assert.deepEqual(mine, {
      id: queued.id,
      queued: 1,
      maxMessages: 100,
      sending: false,
      outstanding: 0,
      unreplied: 0,
    });
    assert.equal(typeof devices[0].nextMessage, 'number');

    const watcher = new Background(['--json', 'stats', '-w', '-i', '0.05'], { socket });
    await watcher.waitForOutput((out) => out.split('\n').length > 3, 'three JSON snapshots');
    const done = await watcher.stop('SIGINT');
    assertExit(done, 0);
    for (const line of done.stdout.trimEnd().split('\n')) {
      assert.equal(JSON.parse(line).devices.length, 2);
    }
  });
});
