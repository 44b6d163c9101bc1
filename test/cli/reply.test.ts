/**
 * `kbus reply NAME -- COMMAND` as a real process against a real kbusd: it
 * binds as replier, runs the command per request with the request data on
 * stdin and KBUS_NAME / KBUS_ID / KBUS_FROM in its environment, and replies
 * with the command's output.
 */
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import { type RunningDaemon, startDaemon } from '../support/daemon.js';
import {
  assertExit,
  Background,
  DEADLINE_MS,
  kbus,
  killStragglers,
  waitForBinding,
  waitForNoBindings,
} from './helpers.js';

describe('kbus reply', () => {
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

  /** Starts `kbus reply NAME ...` and waits until it is bound as replier. */
  async function replying(name: string, args: string[]): Promise<Background> {
    const replier = new Background(['reply', name, ...args], { socket });
    await waitForBinding(socket, replier.pid, name, true);
    return replier;
  }

  test('kbus reply NAME --count 1 -- tr a-z A-Z answers `kbus request` with the output', async () => {
    const replier = await replying('$.Rep.Upper', ['--count', '1', '--', 'tr', 'a-z', 'A-Z']);
    const result = await kbus(['request', '$.Rep.Upper', 'hello there'], { socket });
    assertExit(result, 0, 'request');
    assert.match(
      result.stdout,
      /^reply {8}\{0,\d+\} \$\.Rep\.Upper from \d+ to \d+ in-reply-to \{0,\d+\} data "HELLO THERE"\n$/,
    );
    const done = await replier.exit();
    assertExit(done, 0, 'reply --count 1');
    assert.equal(done.stdout, '');
    assert.equal(done.stderr, '');
    await waitForNoBindings(socket, replier.pid);
  });

  test('the command gets KBUS_NAME, KBUS_ID and KBUS_FROM in its environment', async () => {
    const replier = await replying('$.Rep.Env', [
      '--count',
      '1',
      '--',
      'sh',
      '-c',
      'printf "%s|%s|%s" "$KBUS_NAME" "$KBUS_ID" "$KBUS_FROM"',
    ]);
    const requester = await client();
    const reply = await requester.request('$.Rep.Env', 'x', { timeout: DEADLINE_MS });
    assert.equal(reply.kind, 'reply');
    const id = `{${reply.inReplyTo.networkId},${reply.inReplyTo.serialNum}}`;
    assert.equal(reply.text(), `$.Rep.Env|${id}|${requester.id}`);
    assertExit(await replier.exit(), 0);
  });

  test("echo $KBUS_NAME through sh -c, for a wildcard binding: the request's own name", async () => {
    const replier = await replying('$.Rep.Any.*', ['-n', '1', '--', 'sh', '-c', 'echo $KBUS_NAME']);
    const result = await kbus(['--json', 'request', '$.Rep.Any.thing'], { socket });
    assertExit(result, 0);
    assert.equal((JSON.parse(result.stdout) as { data: string }).data, '$.Rep.Any.thing\n');
    assertExit(await replier.exit(), 0);
  });

  test('the request data is the command stdin, byte for byte (cat)', async () => {
    const replier = await replying('$.Rep.Cat', ['--count', '1', '--', 'cat']);
    const requester = await client();
    const bytes = new Uint8Array([0, 1, 2, 0xff, 10, 0x80]);
    const reply = await requester.request('$.Rep.Cat', bytes, { timeout: DEADLINE_MS });
    assert.deepEqual(Buffer.from(reply.data), Buffer.from(bytes));
    assertExit(await replier.exit(), 0);
  });

  test('--count 2 answers two requests, one at a time, then exits 0', async () => {
    const replier = await replying('$.Rep.Two', [
      '--count',
      '2',
      '--',
      'sh',
      '-c',
      'echo "<$(cat)>"',
    ]);
    const first = await kbus(['request', '$.Rep.Two', 'abc'], { socket });
    const second = await kbus(['request', '$.Rep.Two', 'xyz'], { socket });
    assertExit(first, 0);
    assertExit(second, 0);
    assert.match(first.stdout, / data "<abc>\\n"\n$/);
    assert.match(second.stdout, / data "<xyz>\\n"\n$/);
    assertExit(await replier.exit(), 0);
  });

  test('without --count it keeps answering until SIGINT (exit 0)', async () => {
    const replier = await replying('$.Rep.Forever', ['--', 'tr', 'a-z', 'A-Z']);
    for (const word of ['one', 'two', 'three']) {
      const result = await kbus(['request', '$.Rep.Forever', word], { socket });
      assertExit(result, 0);
      assert.match(result.stdout, new RegExp(` data "${word.toUpperCase()}"\\n$`));
    }
    const done = await replier.stop('SIGINT');
    assertExit(done, 0, 'reply after SIGINT');
    await waitForNoBindings(socket, replier.pid);
  });

  test('a command that fails still replies (with its output), and says so on stderr', async () => {
    const replier = await replying('$.Rep.Fails', [
      '--count',
      '1',
      '--',
      'sh',
      '-c',
      'printf partial; exit 3',
    ]);
    const result = await kbus(['request', '$.Rep.Fails'], { socket });
    assertExit(result, 0);
    assert.match(result.stdout, / data "partial"\n$/);
    const done = await replier.exit();
    assertExit(done, 0);
    assert.match(done.stderr, /exited 3/);
  });

  test('announcements to the name are not answered', async () => {
    const replier = await replying('$.Rep.Announce', ['--count', '1', '--', 'cat']);
    const sender = await client();
    await sender.send({ name: '$.Rep.Announce', data: 'just news' });
    const result = await kbus(['request', '$.Rep.Announce', 'real'], { socket });
    assertExit(result, 0);
    assert.match(result.stdout, / data "real"\n$/);
    assertExit(await replier.exit(), 0);
  });

  test('a command that cannot be run: exits 64 naming it, before binding (no request is taken)', async () => {
    const result = await kbus(['reply', '$.Rep.Missing', '--', 'no-such-command-for-kbus-tests'], {
      socket,
    });
    assertExit(result, 64);
    assert.match(result.stderr, /no-such-command-for-kbus-tests/);
    assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
    // It never bound, so a request finds no replier at all.
    const request = await kbus(['request', '$.Rep.Missing', 'x'], { socket });
    assertExit(request, 99);
  });

  test('an empty command or a directory is not runnable: exit 64 at once, not a wait for requests', async () => {
    for (const command of ['', tmpdir()]) {
      const result = await kbus(['reply', '$.Rep.Empty', '--', command], { socket });
      assertExit(result, 64, `reply -- '${command}'`);
      assert.match(result.stderr, /^kbus: cannot run '.*': not found or not executable\n$/);
    }
  });

  test('no command exits 64; a name already replied to exits 98 (EADDRINUSE)', async () => {
    const none = await kbus(['reply', '$.Rep.None'], { socket });
    assertExit(none, 64);
    const taken = await client();
    await taken.bind('$.Rep.Taken', { replier: true });
    const result = await kbus(['reply', '$.Rep.Taken', '--', 'cat'], { socket });
    assertExit(result, 98);
    assert.match(result.stderr, /EADDRINUSE/);
  });
});
