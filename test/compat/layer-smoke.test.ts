/**
 * The compatibility layer (compat/build/libkbus-compat.so) under small C
 * programs of test/compat/smoke/, preloaded against a real kbusd: the round
 * trip of a pointy message, /proc/kbus/bindings, stat of devices, poll across
 * a Ksock and a pipe, close-then-status, and a daemon killed under poll.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ROOT, type RunningDaemon, startDaemon, tempDir } from '../support/daemon.js';

const LIB = join(ROOT, 'compat', 'build', 'libkbus-compat.so');
const SOURCE = join(ROOT, 'test', 'compat', 'smoke', 'smoke.c');
const run = promisify(execFile);

describe('the compatibility layer, smoke', () => {
  const dir = tempDir('kbus-compat-');
  const program = join(dir.path, 'smoke');
  let daemon: RunningDaemon;

  before(async () => {
    assert.ok(
      existsSync(LIB),
      `${LIB} is missing: install gcc and make, then run npm run build:compat`,
    );
    await run('gcc', ['-Wall', '-Werror', '-o', program, SOURCE]).catch((err: Error) => {
      throw new Error(`these tests compile C programs and need gcc: ${err.message}`);
    });
    daemon = await startDaemon();
  });

  after(async () => {
    await daemon?.stop();
    dir.remove();
  });

  function env(socket: string): NodeJS.ProcessEnv {
    return { ...process.env, LD_PRELOAD: LIB, KBUS_SOCKET: socket };
  }

  async function smoke(what: string): Promise<string[]> {
    const { stdout } = await run(program, [what], { env: env(daemon.socket), timeout: 20_000 });
    return stdout.trimEnd().split('\n');
  }

  test('open, KSOCKID, BIND, a pointy write and SEND, NEXTMSG and read in C form', async () => {
    assert.deepEqual(await smoke('roundtrip'), [
      'ksockid 0 1',
      'bind 0',
      'send 0 1',
      // 108 bytes: the 88-byte C header, "$.Fred" padded to 8, "abc1234" padded to 8, guard
      'nextmsg 1 108',
      'read 10 lenleft 98',
      'message 108 name_len 6 data_len 7 from 1 name $.Fred data abc1234 pointers 1',
      'after lenleft 0 read 0',
      'close 0',
    ]);
  });

  test('/proc/kbus/bindings shows the bindings, newest first, with the opener pid', async () => {
    const lines = await smoke('proc');
    const pid = lines[0]!.replace('pid ', '');
    assert.equal(
      lines[1],
      '# <device> is bound to <Ksock-ID> in <process-PID> as <Replier|Listener> for <message-name>',
    );
    const id = lines[2]!.slice(5, 13);
    assert.match(id, /^ *[1-9]\d*$/);
    assert.deepEqual(lines.slice(2), [
      `  0: ${id} ${pid.padStart(8)}  R  $.Sensors.*`,
      `  0: ${id} ${pid.padStart(8)}  L  $.Fred`,
    ]);
  });

  test('stat shows /dev/kbus0 as a character device 0666; kbus1 and kbus00 are absent', async () => {
    assert.deepEqual(await smoke('stat'), [
      '/dev/kbus0 mode 20666 minor 0',
      '/dev/kbus1 No such file or directory',
      '/dev/kbus00 No such file or directory',
      'fstat mode 20666',
    ]);
  });

  test('poll across a Ksock and a pipe reports each ready exactly when it is', async () => {
    assert.deepEqual(await smoke('poll'), [
      'idle 0 0 0',
      'writable 1 4 0',
      'pipe 1 0 1',
      'ksock 1 1 0',
    ]);
  });

  test('close returns after the release: the requester has its GoneAway at once', async () => {
    assert.deepEqual(await smoke('status'), [
      'request 0',
      'close 0',
      'nextmsg 1 116 $.KBUS.Replier.GoneAway',
    ]);
  });

  test('a daemon killed under a blocked poll gives POLLERR, then EIO; close succeeds', async () => {
    const own = await startDaemon();
    const child = spawn(program, ['gone'], { env: env(own.socket) });
    let out = '';
    child.stdout.setEncoding('utf8');
    const polling = new Promise<void>((resolve) => {
      child.stdout.on('data', (text: string) => {
        out += text;
        if (out.includes('polling')) resolve();
      });
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await polling;
    own.process.kill('SIGKILL');
    await own.stop();
    assert.equal(await exited, 0);
    assert.deepEqual(out.trimEnd().split('\n'), [
      'polling',
      'poll 1 8',
      'nextmsg -1 Input/output error',
      'close 0',
    ]);
  });
});
