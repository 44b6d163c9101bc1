/**
 * A Python 3 program (standard library only: os, fcntl, select, selectors,
 * ctypes, struct) driving /dev/kbusN as the original Python bindings do,
 * under `kbus run` against a real kbusd with three devices: messages in
 * entire and pointy form, /proc/kbus texts parsed as the bindings parse
 * them, stat of present and absent devices, epoll, and a daemon killed
 * while the program is blocked in poll.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { killStragglers } from '../cli/helpers.js';
import { type RunningDaemon, startDaemon } from '../support/daemon.js';
import {
  assertCasePassed,
  backgroundUnderLayer,
  checkPrerequisites,
  PROGRAMS,
  underLayer,
} from './support.js';

const SCRIPT = join(PROGRAMS, 'ksock.py');

describe('Python 3 under kbus run', () => {
  let daemon: RunningDaemon;

  before(async () => {
    checkPrerequisites();
    daemon = await startDaemon(['--devices', '3']);
  });

  after(async () => {
    await killStragglers();
    await daemon?.stop();
  });

  for (const name of ['basic', 'pointy', 'proc', 'stat', 'epoll']) {
    test(name, async () => {
      assertCasePassed(await underLayer(daemon.socket, ['python3', SCRIPT, name]), name);
    });
  }
});

describe('Python 3 blocked in poll when kbusd is killed', () => {
  after(killStragglers);

  test('poll reports POLLERR, later calls fail with EIO, nothing hangs', async () => {
    checkPrerequisites();
    const daemon = await startDaemon();
    try {
      const program = backgroundUnderLayer(daemon.socket, ['python3', SCRIPT, 'daemon-killed']);
      await program.waitForOutput((out) => out.includes('polling'), 'the script to be polling');
      daemon.process.kill('SIGKILL');
      const result = await program.exit();
      assert.ok(result.code !== null, `killed by ${result.signal}`);
      assertCasePassed(result, 'daemon-killed');
    } finally {
      await daemon.stop();
    }
  });
});
