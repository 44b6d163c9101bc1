/**
 * `kbus send` as a real process against a real kbusd: the id it prints, the
 * data from an argument, a file, standard input or hex, the flag switches as
 * a listener sees them, and the errors (exit codes and messages).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type KbusMessage, Ksock } from '../../src/client/index.js';
import { Flags } from '../../src/wire/index.js';
import { type RunningDaemon, startDaemon, tempDir } from '../support/daemon.js';
import {
  assertExit,
  assertNoColour,
  Background,
  DEADLINE_MS,
  kbus,
  killStragglers,
  listening,
  statsText,
  waitFor,
} from './helpers.js';

describe('kbus send', () => {
  let daemon: RunningDaemon;
  let socket: string;
  const clients: Ksock[] = [];
  const dir = tempDir('kbus-cli-send-');

  before(async () => {
    daemon = await startDaemon();
    socket = daemon.socket;
  });

  after(async () => {
    await killStragglers();
    for (const client of clients) await client.close().catch(() => {});
    await daemon.stop();
    dir.remove();
  });

  async function listener(name: string): Promise<Ksock> {
    const ksock = await Ksock.connect({ socket });
    clients.push(ksock);
    await ksock.bind(name);
    return ksock;
  }

  function next(ksock: Ksock): Promise<KbusMessage> {
    return ksock.receive({ timeout: DEADLINE_MS });
  }

  function idOf(stdout: string): { networkId: number; serialNum: number } {
    const match = /^\{(\d+),(\d+)\}\n$/.exec(stdout);
    assert.ok(match, `not a message id line: ${JSON.stringify(stdout)}`);
    return { networkId: Number(match[1]), serialNum: Number(match[2]) };
  }

  test('prints the id {0,N} of the message sent, which is the id the listener sees', async () => {
    const ksock = await listener('$.Send.Id');
    const first = await kbus(['send', '$.Send.Id', 'one'], { socket });
    assertExit(first, 0);
    assert.equal(first.stderr, '');
    const firstId = idOf(first.stdout);
    assert.equal(firstId.networkId, 0);
    const second = await kbus(['send', '$.Send.Id', 'two'], { socket });
    const secondId = idOf(second.stdout);
    assert.ok(secondId.serialNum > firstId.serialNum, 'ids increase');

    const a = await next(ksock);
    const b = await next(ksock);
    assert.deepEqual(a.id, firstId);
    assert.deepEqual(b.id, secondId);
    assert.equal(a.kind, 'announcement');
    assert.equal(a.name, '$.Send.Id');
    assert.equal(a.text(), 'one');
    assert.equal(b.text(), 'two');
    assert.equal(a.to, 0);
    assert.equal(a.flags, 0);
  });

  test('--json prints the id as an object', async () => {
    const ksock = await listener('$.Send.Json');
    const result = await kbus(['--json', 'send', '$.Send.Json', 'x'], { socket });
    assertExit(result, 0);
    const printed = JSON.parse(result.stdout) as { id: { networkId: number; serialNum: number } };
    assert.equal(result.stdout.split('\n').length, 2, 'one line');
    assert.deepEqual((await next(ksock)).id, printed.id);
  });

  test('--socket names the daemon (instead of KBUS_SOCKET)', async () => {
    const ksock = await listener('$.Send.Socket');
    const result = await kbus(['--socket', socket, 'send', '$.Send.Socket', 'via option'], {
      env: { KBUS_SOCKET: join(dir.path, 'nobody-here.sock') },
    });
    assertExit(result, 0);
    assert.equal((await next(ksock)).text(), 'via option');
    const short = await kbus(['-S', socket, 'send', '$.Send.Socket', 'via -S']);
    assertExit(short, 0);
    assert.equal((await next(ksock)).text(), 'via -S');
  });

  test('data from the argument, byte for byte (UTF-8)', async () => {
    const ksock = await listener('$.Send.Arg');
    assertExit(await kbus(['send', '$.Send.Arg', 'héllo wörld ✓'], { socket }), 0);
    assert.deepEqual(Buffer.from((await next(ksock)).data), Buffer.from('héllo wörld ✓'));
  });

  test('data from --file (binary, exactly) and -f', async () => {
    const ksock = await listener('$.Send.File');
    const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, 10, 13, 0x80]);
    const path = join(dir.path, 'data.bin');
    writeFileSync(path, bytes);
    assertExit(await kbus(['send', '--file', path, '$.Send.File'], { socket }), 0);
    assert.deepEqual(Buffer.from((await next(ksock)).data), bytes);
    assertExit(await kbus(['send', '-f', path, '$.Send.File'], { socket }), 0);
    assert.deepEqual(Buffer.from((await next(ksock)).data), bytes);
  });

  test('--file - and no data argument both read standard input (a pipe)', async () => {
    const ksock = await listener('$.Send.Stdin');
    const r1 = await kbus(['send', '$.Send.Stdin'], { socket, input: 'piped\nlines\n' });
    assertExit(r1, 0);
    assert.equal((await next(ksock)).text(), 'piped\nlines\n');
    const binary = Buffer.from([0xde, 0xad, 0, 0xbe, 0xef]);
    const r2 = await kbus(['send', '--file', '-', '$.Send.Stdin'], { socket, input: binary });
    assertExit(r2, 0);
    assert.deepEqual(Buffer.from((await next(ksock)).data), binary);
  });

  test('empty standard input sends a message with no data', async () => {
    const ksock = await listener('$.Send.Empty');
    assertExit(await kbus(['send', '$.Send.Empty'], { socket }), 0);
    assert.equal((await next(ksock)).data.length, 0);
  });

  test('--hex: from the argument, from standard input, with 0x and separators', async () => {
    const ksock = await listener('$.Send.Hex');
    assertExit(await kbus(['send', '--hex', '$.Send.Hex', '0a0b0c0d'], { socket }), 0);
    assert.deepEqual(Buffer.from((await next(ksock)).data), Buffer.from('0a0b0c0d', 'hex'));
    assertExit(await kbus(['send', '-x', '$.Send.Hex', '0xFF:00:7f'], { socket }), 0);
    assert.deepEqual(Buffer.from((await next(ksock)).data), Buffer.from([0xff, 0, 0x7f]));
    assertExit(await kbus(['send', '--hex', '$.Send.Hex'], { socket, input: 'cafe\n' }), 0);
    assert.deepEqual(Buffer.from((await next(ksock)).data), Buffer.from([0xca, 0xfe]));
  });

  test('bad hex exits 64 and sends nothing', async () => {
    const ksock = await listener('$.Send.BadHex');
    for (const bad of ['abc', 'zz', '0x1']) {
      const result = await kbus(['send', '--hex', '$.Send.BadHex', bad], { socket });
      assertExit(result, 64, `send --hex ${bad}`);
      assert.match(result.stderr, /not hex/);
      assert.equal(result.stdout, '');
    }
    assert.equal(await ksock.numMessages(), 0);
  });

  test('data as an argument and --file together exits 64', async () => {
    const path = join(dir.path, 'both.txt');
    writeFileSync(path, 'x');
    const result = await kbus(['send', '--file', path, '$.Send.Both', 'arg'], { socket });
    assertExit(result, 64);
    assert.match(result.stderr, /not both/);
  });

  test('--urgent, --all-or-fail, --all-or-wait and --flags are the flags a `kbus listen --json` sees', async () => {
    const watcher = await listening(socket, ['--json', '--count', '5'], ['$.Send.Flags']);
    const sends: [string, string[]][] = [
      ['urgent', ['--urgent']],
      ['u', ['-u']],
      ['all-or-fail', ['--all-or-fail']],
      ['all-or-wait', ['--all-or-wait']],
      ['user-bits', ['--flags', '0x30000', '--urgent']],
    ];
    const ids = new Map<string, string>();
    for (const [label, flags] of sends) {
      const result = await kbus(['send', ...flags, '$.Send.Flags', label], { socket });
      assertExit(result, 0, `send ${flags.join(' ')}`);
      ids.set(label, result.stdout.trim());
    }
    const done = await watcher.exit();
    assertExit(done, 0, 'listen --count 5');
    const seen = done.stdout
      .trim()
      .split('\n')
      .map(
        (line) => JSON.parse(line) as { id: { serialNum: number }; flags: number; data: string },
      );
    assert.equal(seen.length, 5);
    const byData = new Map(seen.map((m) => [m.data, m]));
    assert.equal(byData.get('urgent')!.flags, Flags.URGENT);
    assert.equal(byData.get('u')!.flags, Flags.URGENT);
    assert.equal(byData.get('all-or-fail')!.flags, Flags.ALL_OR_FAIL);
    assert.equal(byData.get('all-or-wait')!.flags, Flags.ALL_OR_WAIT);
    assert.equal(byData.get('user-bits')!.flags, 0x30000 | Flags.URGENT);
    for (const [label] of sends) {
      assert.equal(`{0,${byData.get(label)!.id.serialNum}}`, ids.get(label));
    }
  });

  test('--urgent puts the message at the front of the queue', async () => {
    const ksock = await listener('$.Send.Order');
    assertExit(await kbus(['send', '$.Send.Order', 'first'], { socket }), 0);
    assertExit(await kbus(['send', '--urgent', '$.Send.Order', 'urgent'], { socket }), 0);
    assert.equal((await next(ksock)).text(), 'urgent');
    assert.equal((await next(ksock)).text(), 'first');
  });

  test('--all-or-fail to a full queue exits 16 (EBUSY)', async () => {
    const ksock = await listener('$.Send.Full');
    await ksock.maxMessages(1);
    await ksock.send({ name: '$.Send.Full', data: 'filler' });
    const result = await kbus(['send', '--all-or-fail', '$.Send.Full', 'x'], { socket });
    assertExit(result, 16);
    assert.match(result.stderr, /EBUSY/);
    assert.equal(result.stdout, '');
    assert.equal(await ksock.numMessages(), 1);
  });

  test('--all-or-wait to a full queue waits until there is room, then prints the id', async () => {
    const ksock = await listener('$.Send.Wait');
    await ksock.maxMessages(1);
    await ksock.send({ name: '$.Send.Wait', data: 'filler' });
    const sender = new Background(['send', '--all-or-wait', '$.Send.Wait', 'waited'], { socket });
    // The daemon reports the pending send in the stats ("..., sending").
    await waitFor(
      async () => /, sending$/m.test(await statsText(socket)),
      'the send to be pending',
    );
    assert.equal(sender.exitedYet, false, 'still waiting while the queue is full');
    assert.equal((await next(ksock)).text(), 'filler');
    const done = await sender.exit();
    assertExit(done, 0);
    const message = await next(ksock);
    assert.equal(message.text(), 'waited');
    assert.equal(message.flags, Flags.ALL_OR_WAIT);
    assert.equal(done.stdout, `{0,${message.id.serialNum}}\n`);
  });

  test('--all-or-fail with --all-or-wait exits 64 and sends nothing', async () => {
    const ksock = await listener('$.Send.Both.Flags');
    const result = await kbus(
      ['send', '--all-or-fail', '--all-or-wait', '$.Send.Both.Flags', 'x'],
      {
        socket,
      },
    );
    assertExit(result, 64);
    assert.match(result.stderr, /--all-or-fail and --all-or-wait/);
    assert.equal(result.stdout, '');
    assert.equal(await ksock.numMessages(), 0);
  });

  test('a bad name exits 74 (EBADMSG) with a message on stderr', async () => {
    for (const name of ['Fred', '$.Fred.', '$.Fred.*', '$.Fred.%', '$', '', '$.']) {
      const result = await kbus(['send', name, 'x'], { socket });
      assertExit(result, 74, `send ${name}`);
      assert.match(result.stderr, /EBADMSG/);
      // What a name looks like, or why a wildcard will not do.
      assert.match(
        result.stderr,
        name.endsWith('*') || name.endsWith('%')
          ? /a wildcard can be listened to, not sent to/
          : /e\.g\. '\$\.Sensors\.Door'/,
      );
      assert.equal(result.stderr.split('\n').length, 2, 'one line');
      assert.match(result.stderr, /^kbus: /);
      assert.equal(result.stdout, '');
      assertNoColour(result.stderr);
    }
  });

  test('no listener is not an error', async () => {
    const result = await kbus(['send', '$.Send.Nobody', 'x'], { socket });
    assertExit(result, 0);
    assert.match(result.stdout, /^\{0,\d+\}\n$/);
  });

  test('a name is required (exit 64)', async () => {
    const result = await kbus(['send'], { socket });
    assertExit(result, 64);
    assert.match(result.stderr, /missing required argument/);
  });
});
