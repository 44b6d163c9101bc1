/**
 * The `kbus` command line as a whole: --help on every subcommand (exit 0,
 * with examples), unknown subcommands and options (64), no daemon at the
 * socket (its errno, and a message saying to start kbusd), no colour into
 * pipes, and output into a pipe that closes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import { ROOT, type RunningDaemon, startDaemon, tempDir } from '../support/daemon.js';
import {
  assertExit,
  assertNoColour,
  Background,
  KBUS,
  kbus,
  killStragglers,
  waitFor,
  waitForBinding,
  waitForNoBindings,
  within,
} from './helpers.js';

const SUBCOMMANDS = [
  'send',
  'request',
  'listen',
  'reply',
  'bindings',
  'stats',
  'top',
  'errno',
  'speed',
];

/** Subcommands that talk to the daemon, with arguments that would work if it were there. */
const USING_THE_DAEMON = [
  ['send', '$.Usage.X', 'x'],
  ['request', '$.Usage.X', 'x'],
  ['listen', '$.Usage.X'],
  ['reply', '$.Usage.X', '--', 'cat'],
  ['bindings'],
  ['stats'],
  ['speed', '--count', '10'],
];

describe('kbus usage', () => {
  let daemon: RunningDaemon;
  let socket: string;
  const dir = tempDir('kbus-cli-usage-');

  before(async () => {
    daemon = await startDaemon();
    socket = daemon.socket;
  });

  after(async () => {
    await killStragglers();
    await daemon.stop();
    dir.remove();
  });

  test('kbus --help lists every subcommand, the exit codes and examples (exit 0)', async () => {
    for (const flag of ['--help', '-h']) {
      const result = await kbus([flag]);
      assertExit(result, 0, `kbus ${flag}`);
      assert.match(result.stdout, /^Usage: kbus \[options\] \[command\]/);
      for (const sub of SUBCOMMANDS) assert.match(result.stdout, new RegExp(`^  ${sub}\\b`, 'm'));
      assert.match(result.stdout, /Exit codes:/);
      assert.match(result.stdout, /Examples:/);
      assert.match(result.stdout, /--socket/);
      assert.match(result.stdout, /KBUS_SOCKET/);
      assertNoColour(result.stdout, result.stderr);
    }
  });

  for (const sub of SUBCOMMANDS) {
    test(`kbus ${sub} --help exits 0 and shows usage and Examples`, async () => {
      const result = await kbus([sub, '--help']);
      assertExit(result, 0, `kbus ${sub} --help`);
      assert.match(result.stdout, new RegExp(`^Usage: kbus ${sub} `));
      assert.match(result.stdout, /Examples:?\n/, `no Examples in kbus ${sub} --help`);
      const examples = result.stdout.slice(result.stdout.indexOf('Examples'));
      assert.match(examples, new RegExp(`^  kbus ${sub}\\b`, 'm'), 'an example of it');
      assert.equal(result.stderr, '');
      assertNoColour(result.stdout);
    });
  }

  test('--version and -V print the version in package.json (exit 0)', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    for (const flag of ['--version', '-V']) {
      const result = await kbus([flag]);
      assertExit(result, 0, `kbus ${flag}`);
      assert.equal(result.stdout, `kbus ${version}\n`);
      assert.equal(result.stderr, '');
    }
  });

  for (const sub of [...SUBCOMMANDS, 'limpet']) {
    test(`kbus ${sub} --help lists the global options`, async () => {
      const result = await kbus([sub, '--help']);
      assertExit(result, 0);
      const globals = result.stdout.slice(result.stdout.indexOf('Global Options:'));
      for (const option of ['--socket <path>', '--device <n>', '--json', '--version']) {
        assert.ok(globals.includes(option), `${option} in kbus ${sub} --help`);
      }
    });
  }

  test("every error, commander's own included, starts 'kbus: ' and exits 64 for usage", async () => {
    for (const args of [
      ['nonsense'],
      ['--bogus'],
      ['send'],
      ['listen', '--count'],
      ['limpet', '--server', '--client', 'x'],
      ['stats', 'extra'],
      ['help', 'nonsense'],
      ['request', '--timeout', 'abc', '$.Usage.X'],
      ['request', '--timeout', '-1', '$.Usage.X'],
      ['stats', '--watch', '--interval', 'Infinity'],
      ['stats', '--watch', '--interval', '1e9'],
      ['limpet', '--client', '--retry', 'soon', 'x:1'],
      ['limpet', '--client', '--greeting-timeout', '', 'x:1'],
    ]) {
      const result = await kbus(args, { socket });
      assertExit(result, 64, `kbus ${args.join(' ')}`);
      assert.match(result.stderr, /^kbus: \S/, `kbus ${args.join(' ')}: ${result.stderr}`);
      assert.doesNotMatch(result.stderr, /^error:/m);
      assert.equal(result.stdout, '');
    }
  });

  test('kbus help SUBCOMMAND is the same as SUBCOMMAND --help', async () => {
    const viaHelp = await kbus(['help', 'listen']);
    const viaFlag = await kbus(['listen', '--help']);
    assertExit(viaHelp, 0);
    assert.equal(viaHelp.stdout, viaFlag.stdout);
  });

  test('an unknown subcommand exits 64 with a message', async () => {
    const result = await kbus(['nonsense'], { socket });
    assertExit(result, 64);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /unknown command 'nonsense'/);
    assertNoColour(result.stderr);
  });

  test('an unknown option exits 64, globally and on a subcommand', async () => {
    for (const args of [
      ['--bogus', 'stats'],
      ['send', '--bogus', '$.Usage.X', 'x'],
      ['listen', '--count'],
      ['stats', 'extra'],
    ]) {
      const result = await kbus(args, { socket });
      assertExit(result, 64, `kbus ${args.join(' ')}`);
      assert.equal(result.stdout, '');
      assert.notEqual(result.stderr, '');
    }
  });

  test('no daemon at the socket: exit 2 (ENOENT) and a message saying to start kbusd', async () => {
    const missing = join(dir.path, 'no-daemon.sock');
    for (const args of USING_THE_DAEMON) {
      const result = await kbus(['--socket', missing, ...args]);
      assertExit(result, 2, `kbus ${args.join(' ')} with no daemon`);
      assert.equal(result.stdout, '');
      assert.ok(
        result.stderr.includes(
          `no kbusd is serving ${missing}: start one with 'kbusd --socket ${missing}'`,
        ),
        result.stderr,
      );
      assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
      assertNoColour(result.stderr);
    }
  });

  test('a socket path that is a directory, a plain file or empty: said so, no Node message', async () => {
    const file = join(dir.path, 'plain-file');
    writeFileSync(file, 'not a socket');
    const cases: [string, number, RegExp][] = [
      [
        dir.path,
        21,
        /is a directory, not kbusd's socket: give the socket's path \(e\.g\. .*kbus\.sock\)$/,
      ],
      [file, 88, /plain-file is not a socket, so no kbusd serves it/],
      ['', 64, /^kbus: --socket needs a path, not ''$/],
    ];
    for (const [path, code, message] of cases) {
      const result = await kbus(['--socket', path, 'stats']);
      assertExit(result, code, `--socket '${path}'`);
      assert.match(result.stderr.trimEnd(), message);
      assert.equal(result.stderr.split('\n').length, 2, 'one line');
    }
  });

  test('--file that cannot be read: the reason in words, exit its errno', async () => {
    const missing = join(dir.path, 'missing.bin');
    const result = await kbus(['send', '--file', missing, '$.Usage.X'], { socket });
    assertExit(result, 2);
    assert.equal(result.stderr, `kbus: cannot read --file ${missing}: no such file or directory\n`);
    const directory = await kbus(['send', '--file', dir.path, '$.Usage.X'], { socket });
    assertExit(directory, 21);
    assert.match(
      directory.stderr,
      /^kbus: cannot read --file .*: illegal operation on a directory\n$/,
    );
  });

  test('KBUS_SOCKET names the socket when --socket is not given', async () => {
    const missing = join(dir.path, 'from-env.sock');
    const result = await kbus(['stats'], { socket: missing });
    assertExit(result, 2);
    assert.match(result.stderr, /start one with 'kbusd --socket .*from-env\.sock'/);
    const working = await kbus(['stats'], { socket });
    assertExit(working, 0);
  });

  test('a stale socket file (its daemon killed): non-zero exit and a message saying to start kbusd', async () => {
    const stale = join(dir.path, 'stale.sock');
    // A process that listens on the socket and dies without removing it.
    const owner = spawn(
      process.execPath,
      [
        '-e',
        `require('node:net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`,
      ],
      { stdio: 'ignore' },
    );
    await within(new Promise((resolve) => owner.once('exit', resolve)), 'the socket owner to die');
    assert.ok(existsSync(stale), 'the socket file is left behind');
    const result = await kbus(['--socket', stale, 'stats']);
    assert.notEqual(result.code, 0);
    assert.equal(result.code, 111, 'ECONNREFUSED');
    assert.match(result.stderr, /no kbusd is serving .*stale\.sock: start one with 'kbusd/);
  });

  test('no colour escape codes when stdout and stderr are pipes', async () => {
    const env = { NO_COLOR: undefined, TERM: 'xterm-256color', COLORTERM: 'truecolor' };
    const listener = new Background(['listen', '--count', '2', '$.Usage.Colour'], {
      socket,
      env,
    });
    await waitForBinding(socket, listener.pid, '$.Usage.Colour');
    const sender = await Ksock.connect({ socket });
    try {
      await sender.send({ name: '$.Usage.Colour', data: 'text', flags: 0x8 });
      await sender.send({ name: '$.Usage.Colour', data: new Uint8Array([1, 2]) });
    } finally {
      await sender.close();
    }
    const heard = await listener.exit();
    assertExit(heard, 0);
    const outputs = [
      heard,
      await kbus(['--help'], { env }),
      await kbus(['bindings'], { socket, env }),
      await kbus(['request', '$.Usage.Nobody', 'x'], { socket, env }),
      await kbus(['send', 'bad name'], { socket, env }),
      await kbus(['errno', '32'], { env }),
      await kbus(['nonsense'], { env }),
    ];
    for (const result of outputs) assertNoColour(result.stdout, result.stderr);
    assert.match(heard.stdout, /flags URGENT data "text"/);
  });

  test('output into a pipe that is closed: no crash, no stack trace', async () => {
    // The reader has gone before kbus writes its help.
    const child = spawn(process.execPath, [KBUS, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await within(
      new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c))),
      'kbus --help to exit',
    );
    assert.doesNotMatch(stderr, /^\s+at /m, `a stack trace: ${stderr}`);
    assert.doesNotMatch(stderr, /Unhandled 'error' event/);
    assert.ok(code === 0 || code === 141, `exit ${code}`);
  });

  test('kbus listen whose stdout reader goes away stops (no stack trace) and unbinds', async () => {
    const listener = new Background(['listen', '$.Usage.Closed'], { socket });
    listener.child.stdout!.destroy();
    await waitForBinding(socket, listener.pid, '$.Usage.Closed');
    const sender = await Ksock.connect({ socket });
    try {
      // Keep sending until the listener notices its closed stdout and stops.
      await waitFor(async () => {
        if (listener.exitedYet) return true;
        await sender.send({ name: '$.Usage.Closed', data: 'anyone there?' });
        return false;
      }, 'the listener to stop');
    } finally {
      await sender.close();
    }
    const done = await listener.exit();
    assert.doesNotMatch(done.stderr, /^\s+at /m, `a stack trace: ${done.stderr}`);
    await waitForNoBindings(socket, listener.pid);
  });
});
