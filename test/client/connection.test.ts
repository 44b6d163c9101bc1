/**
 * What the client says when kbusd cannot be reached or goes away: a lost
 * connection is ConnectionLostError (KBUS_CONNECTION_LOST) from every
 * pending call and from iteration, unlike a deliberate close(); a socket
 * path that is not kbusd's socket is an error that says what to do.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ClientError, ConnectionLostError, Ksock } from '../../src/client/index.js';
import { startDaemon, tempDir } from '../support/daemon.js';

const WAIT = 10_000;

/** Asserts that `promise` rejects with ConnectionLostError. */
async function rejectsLost(promise: Promise<unknown>, what: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ConnectionLostError, `${what}: ${String(err)}`);
    assert.equal(err.code, 'KBUS_CONNECTION_LOST');
    return true;
  });
}

describe('Ksock: the daemon goes away', () => {
  test('every pending call and the iterator fail with KBUS_CONNECTION_LOST', async () => {
    const daemon = await startDaemon();
    try {
      const replier = await Ksock.connect(daemon.socket);
      const k = await Ksock.connect(daemon.socket);
      await replier.bind('$.Lost.Q', { replier: true });
      await k.bind('$.Lost.A');
      const receiving = k.receive({ timeout: WAIT });
      const requesting = k.request('$.Lost.Q', 'q', { timeout: WAIT });
      const iterating = (async () => {
        for await (const _ of replier) {
          // The request arrives; the loop goes on until the connection is lost.
        }
      })();
      daemon.process.kill('SIGKILL');
      await rejectsLost(receiving, 'receive()');
      await rejectsLost(requesting, 'request()');
      await rejectsLost(iterating, 'iteration');
      assert.equal(k.closed, true);
      assert.equal(k.closeReason, 'lost');
      assert.ok(k.closeError instanceof ConnectionLostError);
      // Later calls say the same, not EBADF.
      await rejectsLost(k.bind('$.Lost.B'), 'bind() after');
      await k.close();
      assert.equal(k.closeReason, 'lost');
    } finally {
      await daemon.stop();
    }
  });
});

describe('Ksock.connect: socket paths that are not kbusd', () => {
  /** Asserts that connecting to `path` fails with `code`, the message including each of `parts`, and no raw Node text. */
  async function refuses(path: string, code: string, ...parts: string[]): Promise<void> {
    await assert.rejects(Ksock.connect(path), (err: Error & { code?: string }) => {
      assert.equal(err.code, code, err.message);
      for (const part of parts) assert.ok(err.message.includes(part), err.message);
      assert.doesNotMatch(err.message, /^connect E/, 'not the raw system message');
      return true;
    });
  }

  test('a regular file, a directory, a missing directory', async () => {
    const dir = tempDir('kbus-paths-');
    try {
      const file = join(dir.path, 'file');
      writeFileSync(file, 'not a socket');
      await refuses(file, 'ENOTSOCK', file, 'not a socket', '--socket');
      const sub = join(dir.path, 'sub');
      mkdirSync(sub);
      await refuses(sub, 'ENOTSOCK', sub, 'a directory');
      const missing = join(dir.path, 'nowhere', 'kbus.sock');
      await refuses(missing, 'ENOENT', join(dir.path, 'nowhere'), 'does not exist');
    } finally {
      dir.remove();
    }
  });

  test('an empty path is KBUS_NO_SOCKET_PATH, before anything is tried', async () => {
    await assert.rejects(Ksock.connect(''), (err: unknown) => {
      assert.ok(err instanceof ClientError, String(err));
      assert.equal(err.code, 'KBUS_NO_SOCKET_PATH');
      return true;
    });
    await assert.rejects(Ksock.connect({ socket: '' }), { code: 'KBUS_NO_SOCKET_PATH' });
  });

  test('options that are unknown or of the wrong type are a TypeError before connecting', async () => {
    // Nothing serves this path: a TypeError shows the options were checked first.
    const dir = tempDir('kbus-none-');
    const path = join(dir.path, 'none.sock');
    // biome-ignore lint/suspicious/noExplicitAny: what a JavaScript caller may pass
    await assert.rejects(Ksock.connect({ socket: path, sockt: 1 } as any), TypeError);
    // biome-ignore lint/suspicious/noExplicitAny: what a JavaScript caller may pass
    await assert.rejects(Ksock.connect({ socket: 5 as any }), /'socket' takes a string/);
    // biome-ignore lint/suspicious/noExplicitAny: what a JavaScript caller may pass
    await assert.rejects(Ksock.connect(path, { mode: 'rwx' as any }), /'mode'/);
    dir.remove();
  });
});
