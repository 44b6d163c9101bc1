/**
 * kbusd runs with V8's young generation held small (bin/kbusd's first lines,
 * docs/scaling.md "Two modes for large messages"): run as a program, through
 * `npm start`, and by the bench alike.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { KBUSD_NODE_FLAGS } from '../../bench/processes.js';
import { KBUSD, ROOT, tempDir } from '../support/daemon.js';
import { waitFor } from '../support/wait.js';

const FLAG = '--max-semi-space-size=4';

test('bin/kbusd, npm start and the bench give Node the same flags', () => {
  const [first, second] = readFileSync(KBUSD, 'utf8').split('\n');
  assert.equal(first, '#!/bin/sh');
  assert.equal(second, `':' //; exec node ${FLAG} "$0" "$@"`);
  const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts;
  assert.equal(scripts.start, `node ${FLAG} bin/kbusd`);
  assert.deepEqual(KBUSD_NODE_FLAGS, [FLAG]);
});

const dir = tempDir('kbusd-flags-');
after(() => dir.remove());

test('kbusd run as a program (its first lines) has the flag', async () => {
  const socket = join(dir.path, 'kbus.sock');
  // Run as a user runs an installed command: the kernel starts the shell its first line names.
  const child = spawn(KBUSD, ['--socket', socket], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  try {
    await waitFor(() => /serving/.test(stderr), 'kbusd to say it is serving', 10_000);
    // Node's own arguments come before the script's in its command line.
    const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    assert.ok(argv.indexOf(FLAG) >= 0, `no ${FLAG} in ${argv.join(' ')}`);
    assert.ok(argv.indexOf(FLAG) < argv.indexOf(KBUSD));
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
});
