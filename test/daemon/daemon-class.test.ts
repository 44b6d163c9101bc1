/**
 * The Daemon class in process: its options are checked before anything is
 * opened (a socket path that is not a string once made it listen on a TCP
 * port), `socket` is the name of the path as in Ksock.connect (with
 * `socketPath` still accepted), and a socket path it cannot use is a
 * DaemonError that says what to do.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import { Daemon, DaemonError } from '../../src/daemon/index.js';
import { Engine } from '../../src/engine/index.js';
import { tempDir } from '../support/daemon.js';

/** Listening servers (TCP or Unix) this process has open. */
function servers(): number {
  return process
    .getActiveResourcesInfo()
    .filter((r) => r === 'TCPServerWrap' || r === 'PipeServerWrap').length;
}

test('new Daemon({ socket }) serves that path; socketPath is the same option by its old name', async () => {
  const dir = tempDir('kbus-daemon-class-');
  try {
    for (const options of [
      { socket: join(dir.path, 'a.sock') },
      { socketPath: join(dir.path, 'b.sock') },
    ]) {
      const daemon = new Daemon(options);
      const path = options.socket ?? options.socketPath!;
      assert.equal(daemon.socket, path);
      await daemon.start();
      try {
        await using k = await Ksock.connect(path);
        assert.ok(k.id > 0);
      } finally {
        await daemon.close();
      }
    }
  } finally {
    dir.remove();
  }
});

test('options unknown or of the wrong type are a TypeError naming them, and nothing is opened', () => {
  const before = servers();
  const cases: [unknown, RegExp][] = [
    [{ socket: 5 }, /'socket' takes a string/],
    [{ socket: '/tmp/x.sock', sockets: 1 }, /'sockets'/],
    [{ socket: '/tmp/x.sock', maxMessages: '10' }, /'maxMessages' takes a number/],
    [{ socket: '/tmp/x.sock', socketMode: '0660' }, /'socketMode' takes a number/],
    ['/tmp/x.sock', /options object/],
  ];
  for (const [options, message] of cases) {
    assert.throws(
      // biome-ignore lint/suspicious/noExplicitAny: what a JavaScript caller may pass
      () => new Daemon(options as any),
      (err: unknown) => {
        assert.ok(err instanceof TypeError, String(err));
        assert.match(err.message, message);
        return true;
      },
    );
  }
  assert.equal(servers(), before);
});

test('no socket path, or an empty one, is KBUS_DAEMON_NO_SOCKET_PATH', () => {
  for (const options of [{}, { socket: '' }]) {
    assert.throws(() => new Daemon(options), { code: 'KBUS_DAEMON_NO_SOCKET_PATH' });
  }
});

test('new Engine() checks its options the same way', () => {
  // biome-ignore lint/suspicious/noExplicitAny: what a JavaScript caller may pass
  assert.throws(() => new Engine({ maxMesages: 5 } as any), /no option 'maxMesages'/);
  // biome-ignore lint/suspicious/noExplicitAny: what a JavaScript caller may pass
  assert.throws(() => new Engine({ verbose: 'yes' } as any), /'verbose' takes a boolean/);
});

test('start(): a file, a directory or a missing directory as the socket is a DaemonError', async () => {
  const dir = tempDir('kbus-daemon-paths-');
  try {
    const file = join(dir.path, 'file');
    writeFileSync(file, 'x');
    const sub = join(dir.path, 'sub');
    mkdirSync(sub);
    const cases: [string, string, string][] = [
      [file, 'KBUS_DAEMON_NOT_A_SOCKET', 'not a socket'],
      [sub, 'KBUS_DAEMON_NOT_A_SOCKET', 'a directory'],
      [join(dir.path, 'nowhere', 'kbus.sock'), 'KBUS_DAEMON_NO_DIRECTORY', 'does not exist'],
    ];
    for (const [path, code, part] of cases) {
      const before = servers();
      const daemon = new Daemon({ socket: path });
      await assert.rejects(daemon.start(), (err: unknown) => {
        assert.ok(err instanceof DaemonError, String(err));
        assert.equal(err.code, code, err.message);
        assert.ok(err.message.includes(part), err.message);
        return true;
      });
      assert.equal(servers(), before, `nothing left listening for ${path}`);
    }
  } finally {
    dir.remove();
  }
});
