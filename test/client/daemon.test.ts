/**
 * The client conformance suite over a real kbusd: one daemon process on a
 * temporary socket for each describe block, stopped after it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import { startDaemon } from '../support/daemon.js';
import { clientErrors } from './client-errors.js';
import { type BusFactory, conformance } from './conformance.js';

const daemonBus: BusFactory = async () => {
  const daemon = await startDaemon();
  return {
    open: (options) => Ksock.connect({ socket: daemon.socket, ...options }),
    stop: async () => {
      const code = await daemon.stop();
      assert.equal(code, 0, `kbusd exited with ${code}: ${daemon.stderr()}`);
    },
  };
};

conformance('kbusd', daemonBus);
clientErrors('kbusd', daemonBus);

describe('Ksock.connect: where to connect', () => {
  test('a path as the first argument is the socket, and options still apply', async () => {
    const daemon = await startDaemon(['--devices', '2']);
    try {
      // The environment names nothing: only the argument can lead there.
      await using ksock = await Ksock.connect(daemon.socket, { device: 1, pid: 4242 });
      assert.equal(ksock.device, 1);
      await ksock.bind('$.Here');
      const text = await ksock.bindings();
      assert.match(text, /^ {2}1: +\d+ +4242 {2}L {2}\$\.Here$/m);
    } finally {
      await daemon.stop();
    }
  });

  test('a path with nobody serving it is named in the error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kbus-nodaemon-'));
    const path = join(dir, 'none.sock');
    try {
      await assert.rejects(Ksock.connect(path), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ENOENT');
        assert.ok(err.message.includes(path), err.message);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
