/**
 * kbusd's log: `--log-level`, one line per event with an ISO time, a level
 * and one "kbusd:" prefix; info by default (start and stop), per-request
 * detail at debug only (and --verbose is debug). Also the logger on its own.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import { createLogger } from '../../src/daemon/log.js';
import { tempDir } from '../support/daemon.js';
import { type Kbusd, runKbusd, waitFor, within } from './helpers.js';

/** `<ISO time> <level> kbusd: <text>` */
const LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warn|info|debug) kbusd: (.*)$/;

function lines(text: string): { level: string; text: string }[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const match = LINE.exec(l);
      assert.ok(match, `a log line: ${JSON.stringify(l)}`);
      assert.ok(!match[2]!.includes('kbusd:'), `one prefix: ${l}`);
      return { level: match[1]!, text: match[2]! };
    });
}

describe('kbusd logging', () => {
  const daemons: Kbusd[] = [];
  const dirs: { remove: () => void }[] = [];
  after(async () => {
    for (const daemon of daemons) await daemon.kill();
    for (const dir of dirs) dir.remove();
  });
  function kbusd(args: string[]): { daemon: Kbusd; socket: string } {
    const dir = tempDir('kbusd-log-');
    dirs.push(dir);
    const socket = join(dir.path, 'kbus.sock');
    const daemon = runKbusd(['--socket', socket, ...args]);
    daemons.push(daemon);
    return { daemon, socket };
  }
  /** Opens a Ksock, binds, sends to itself, reads it back and closes: several requests. */
  async function traffic(socket: string): Promise<void> {
    const ksock = await Ksock.connect({ socket });
    await ksock.bind('$.logged');
    await ksock.announce('$.logged', 'x');
    await ksock.receive({ timeout: 10_000 });
    await ksock.close();
  }

  test('info by default: start and stop, each a timed line; no per-request lines', async () => {
    const { daemon, socket } = kbusd([]);
    await daemon.serving();
    await traffic(socket);
    daemon.process.kill('SIGTERM');
    const { code } = await within(daemon.exited, 'kbusd to exit', 30_000);
    assert.equal(code, 0);
    const logged = lines(daemon.stderr());
    assert.deepEqual(
      logged.map((l) => l.level),
      ['info', 'info', 'info'],
    );
    assert.match(logged[0]!.text, /^serving 1 device on .*kbus\.sock \(mode 600\)$/);
    assert.equal(logged[1]!.text, 'SIGTERM: stopping');
    assert.equal(logged[2]!.text, 'stopped');
  });

  test('--log-level debug (and --verbose) add a line per request, in the same form', async () => {
    for (const args of [['--log-level', 'debug'], ['--verbose']]) {
      const { daemon, socket } = kbusd(args);
      await daemon.serving();
      await traffic(socket);
      await waitFor(() => /released/.test(daemon.stderr()), `${args}: the release logged`);
      const logged = lines(daemon.stderr());
      const debug = logged.filter((l) => l.level === 'debug').map((l) => l.text);
      assert.ok(
        debug.some((t) => /^conn 1: OPEN tag \d+/.test(t)),
        `${args}: OPEN:\n${daemon.stderr()}`,
      );
      assert.ok(
        debug.some((t) => /^conn 1 ksock \d+: BIND tag/.test(t)),
        `${args}: BIND`,
      );
      assert.ok(
        debug.some((t) => /^conn 1 ksock \d+: released$/.test(t)),
        `${args}: released`,
      );
    }
  });

  test('a device made verbose by a client (VERBOSE) logs at any level, as debug lines', async () => {
    const { daemon, socket } = kbusd([]);
    await daemon.serving();
    const ksock = await Ksock.connect({ socket });
    await ksock.verbose(true);
    await ksock.bind('$.verbose.device');
    await waitFor(() => /debug kbusd: kbus: 0\//.test(daemon.stderr()), 'a line from the engine');
    const logged = lines(daemon.stderr());
    assert.ok(
      logged.every((l) => l.level === 'info' || /^kbus: 0\//.test(l.text)),
      daemon.stderr(),
    );
    assert.ok(!logged.some((l) => /^conn /.test(l.text)), 'no per-request lines at info');
    await ksock.close();
  });

  test('--log-level error says nothing while all goes well', async () => {
    const { daemon, socket } = kbusd(['--log-level', 'error']);
    await waitFor(() => existsSync(socket), 'the socket');
    await traffic(socket);
    daemon.process.kill('SIGTERM');
    const { code } = await within(daemon.exited, 'kbusd to exit', 30_000);
    assert.equal(code, 0);
    assert.equal(daemon.stderr(), '');
  });

  test('--log-level with another word is a usage error (64)', async () => {
    const { daemon, socket } = kbusd(['--log-level', 'loud']);
    const { code } = await within(daemon.exited, 'kbusd to exit', 30_000);
    assert.equal(code, 64);
    assert.match(daemon.stderr(), /^kbusd: --log-level takes error, warn, info, debug, not 'loud'/);
    assert.ok(!existsSync(socket));
  });

  test('the logger writes its level and above, and formats nothing below it', () => {
    const written: string[] = [];
    const clock = () => new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6));
    const log = createLogger('warn', (line) => written.push(line), clock);
    log.error('e');
    log.warn('w');
    log.info('i');
    log.debug('d');
    assert.deepEqual(written, [
      '2026-01-02T03:04:05.006Z error kbusd: e\n',
      '2026-01-02T03:04:05.006Z warn kbusd: w\n',
    ]);
    assert.equal(log.enabled('info'), false);
    assert.equal(log.enabled('error'), true);
    // Below the level the method is a shared no-op: nothing is formatted.
    assert.equal(log.info, log.debug);
  });
});
