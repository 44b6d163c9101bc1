/**
 * The kbusd command line: help, bad options, start-up time, the socket
 * file (mode, stale and live sockets, other files), clean stops on SIGTERM
 * and SIGINT, KBUS_SOCKET, and the options that configure the engine.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConnectionLostError, Ksock } from '../../src/client/index.js';
import { encodeFrame, Flags, KbusError, Op } from '../../src/internal.js';
import { ROOT, tempDir } from '../support/daemon.js';
import {
  assertError,
  assertStillWorks,
  hex,
  type Kbusd,
  le,
  RawConnection,
  runKbusd,
  waitFor,
  within,
} from './helpers.js';

const OPTIONS = [
  '--socket',
  '--devices',
  '--max-messages',
  '--max-unsent-unbind',
  '--max-message-size',
  '--socket-mode',
  '--socket-group',
  '--verbose',
  '--help',
  '--version',
];

describe('kbusd command line', () => {
  const daemons: Kbusd[] = [];
  const clients: Ksock[] = [];
  const dirs: { remove: () => void }[] = [];

  after(async () => {
    for (const client of clients) await client.close().catch(() => {});
    for (const daemon of daemons) await daemon.kill();
    for (const dir of dirs) dir.remove();
  });

  function kbusd(args: string[], env?: NodeJS.ProcessEnv): Kbusd {
    const daemon = runKbusd(args, env);
    daemons.push(daemon);
    return daemon;
  }

  function socketPath(name = 'kbus.sock'): string {
    const dir = tempDir('kbusd-cli-');
    dirs.push(dir);
    return join(dir.path, name);
  }

  /** Starts kbusd on a fresh socket with these extra options and waits until it serves. */
  async function serve(args: string[] = []): Promise<{ daemon: Kbusd; socket: string }> {
    const socket = socketPath();
    const daemon = kbusd(['--socket', socket, ...args]);
    await daemon.serving();
    return { daemon, socket };
  }

  async function client(socket: string, device = 0): Promise<Ksock> {
    const ksock = await Ksock.connect({ socket, device });
    clients.push(ksock);
    return ksock;
  }

  /** Waits for the exit; fails if it takes more than 30 s. */
  function exit(daemon: Kbusd) {
    return within(daemon.exited, 'kbusd to exit', 30_000);
  }

  test('--help and -h print usage naming every option, and exit 0', async () => {
    for (const flag of ['--help', '-h']) {
      const daemon = kbusd([flag]);
      const { code } = await exit(daemon);
      assert.equal(code, 0, `${flag}: exit code; stderr ${daemon.stderr()}`);
      const usage = daemon.stdout();
      assert.match(usage, /usage/i);
      for (const option of OPTIONS) assert.ok(usage.includes(option), `${flag} mentions ${option}`);
      assert.ok(!daemon.stderr().includes('serving'), `${flag} must not start serving`);
    }
  });

  test('--version and -V print the package version, and exit 0', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    for (const flag of ['--version', '-V']) {
      const daemon = kbusd([flag]);
      const { code } = await exit(daemon);
      assert.equal(code, 0, `${flag}: exit code; stderr ${daemon.stderr()}`);
      assert.equal(daemon.stdout(), `kbusd ${version}\n`);
    }
  });

  test('an unknown option or a bad value exits 64 with one kbusd: message', async () => {
    const cases: [string[], RegExp][] = [
      [['--frobnicate'], /frobnicate/],
      [['--socket'], /socket/],
      [['extra-argument'], /extra-argument|argument/],
      [['--devices', 'three'], /devices.*three|three.*devices/],
      [['--devices', '0'], /devices/],
      [['--devices', '257'], /devices/],
      [['--max-messages', '-1'], /max-messages|maxMessages/],
      [['--max-message-size', '1e6'], /max-message-size/],
      [['--socket-mode', '9'], /socket-mode/],
      // Octal is checked as octal: 779 is not 077 with a 9 dropped.
      [['--socket-mode', '999'], /socket-mode.*999/],
      [['--socket-mode', '779'], /socket-mode.*779/],
      [['--socket-mode', '1777'], /socket-mode/],
      [['--socket-group', 'no-such-group-kbus'], /socket-group.*no-such-group-kbus/],
    ];
    // Run side by side: each is a whole Node start-up.
    const runs = cases.map(([args, message]) => {
      const socket = socketPath();
      const daemon = kbusd(['--socket', socket, ...args].slice(args[0] === '--socket' ? 2 : 0));
      return { args, message, socket, daemon, exited: exit(daemon) };
    });
    for (const { args, message, socket, daemon, exited } of runs) {
      const { code } = await exited;
      const stderr = daemon.stderr();
      assert.equal(code, 64, `${args.join(' ')}: exit code (EX_USAGE)`);
      assert.match(stderr, message, `${args.join(' ')}: stderr ${JSON.stringify(stderr)}`);
      assert.match(stderr, /^kbusd: [\s\S]*\nTry 'kbusd --help'\.\n$/, `${args.join(' ')}: form`);
      assert.equal(stderr.split('kbusd:').length, 2, `${args.join(' ')}: one prefix`);
      assert.ok(!stderr.includes('serving'), `${args.join(' ')} must not serve`);
      assert.ok(!existsSync(socket), `${args.join(' ')} must leave no socket`);
    }
  });

  test('starts quickly', async () => {
    const socket = socketPath();
    const began = process.hrtime.bigint();
    const daemon = kbusd(['--socket', socket]);
    await daemon.serving();
    const ms = Number(process.hrtime.bigint() - began) / 1e6;
    console.log(`# kbusd started (spawn to "serving") in ${ms.toFixed(0)} ms`);
    assert.ok(ms < 5000, `kbusd took ${ms.toFixed(0)} ms to start`);
    assert.ok(lstatSync(socket).isSocket());
    assert.match(
      daemon.stderr(),
      new RegExp(`serving 1 device on ${socket.replace(/\./g, '\\.')}`),
    );
    const ksock = await client(socket);
    assert.ok(ksock.id > 0);
  });

  test('the socket file is 0600 by default and 0660 with --socket-mode 660', async () => {
    const plain = await serve();
    assert.equal(statSync(plain.socket).mode & 0o777, 0o600);
    const group = await serve(['--socket-mode', '660']);
    assert.equal(statSync(group.socket).mode & 0o777, 0o660);
    await client(group.socket);
    const leadingZero = await serve(['--socket-mode', '0640']);
    assert.equal(statSync(leadingZero.socket).mode & 0o777, 0o640);
  });

  test('--socket-group gives the socket file a group, by number or by name', async () => {
    // 65534 is nogroup on Debian; any gid works for root, and a process may
    // always give a file its own group.
    const gid = process.getuid?.() === 0 ? 65534 : process.getgid!();
    const byNumber = await serve(['--socket-group', String(gid), '--socket-mode', '660']);
    assert.equal(statSync(byNumber.socket).gid, gid);
    assert.equal(statSync(byNumber.socket).mode & 0o777, 0o660);
    await client(byNumber.socket);
    const name = readFileSync('/etc/group', 'utf8')
      .split('\n')
      .find((line) => line.split(':')[2] === String(gid))
      ?.split(':')[0];
    assert.ok(name, `a group named for gid ${gid} in /etc/group`);
    const byName = await serve(['--socket-group', name]);
    assert.equal(statSync(byName.socket).gid, gid);
  });

  test('a stale socket file left by a killed daemon is replaced', async () => {
    const socket = socketPath();
    const first = kbusd(['--socket', socket]);
    await first.serving();
    await first.kill();
    assert.equal((await first.exited).signal, 'SIGKILL');
    assert.ok(lstatSync(socket).isSocket(), 'SIGKILL leaves the socket file behind');
    const second = kbusd(['--socket', socket]);
    await second.serving();
    const a = await client(socket);
    await assertStillWorks(socket, a, 'stale');
  });

  test('starting over a live daemon fails with a message and leaves it serving', async () => {
    const live = await serve();
    const before = await client(live.socket);
    const intruder = kbusd(['--socket', live.socket]);
    const { code } = await exit(intruder);
    assert.equal(code, 1, 'a runtime failure exits 1');
    assert.match(intruder.stderr(), /already serving/);
    assert.match(intruder.stderr(), new RegExp(live.socket.replace(/\./g, '\\.')));
    assert.ok(lstatSync(live.socket).isSocket(), 'the live socket file is still there');
    await assertStillWorks(live.socket, before, 'live');
    // New clients still reach the live daemon.
    const after = await client(live.socket);
    assert.ok(after.id > before.id);
  });

  test('a regular file at the socket path is refused and left alone', async () => {
    const socket = socketPath();
    writeFileSync(socket, 'precious\n');
    const daemon = kbusd(['--socket', socket]);
    const { code } = await exit(daemon);
    assert.equal(code, 1, 'a runtime failure exits 1');
    assert.match(daemon.stderr(), /^kbusd: .*not a socket/);
    assert.equal(readFileSync(socket, 'utf8'), 'precious\n');
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal} stops it cleanly: exit 0, socket file removed, clients closed`, async () => {
      const { daemon, socket } = await serve();
      const ksock = await client(socket);
      await ksock.bind('$.before.stop');
      const waiting = ksock.receive().then(
        () => 'message',
        (err: unknown) => (err instanceof ConnectionLostError ? err.code : String(err)),
      );
      daemon.process.kill(signal);
      const { code, signal: by } = await exit(daemon);
      assert.equal(code, 0, `exit code after ${signal}; stderr ${daemon.stderr()}`);
      assert.equal(by, null);
      assert.ok(!existsSync(socket), 'the socket file is removed');
      // The client did not close: for it, the connection is lost.
      assert.equal(await within(waiting, 'the client to see the close'), 'KBUS_CONNECTION_LOST');
      assert.equal(ksock.closeReason, 'lost');
    });
  }

  test('KBUS_SOCKET is the socket when --socket is absent', async () => {
    const socket = socketPath('from-env.sock');
    const env = { ...process.env, KBUS_SOCKET: socket };
    const daemon = kbusd([], env);
    await daemon.serving();
    assert.ok(lstatSync(socket).isSocket());
    assert.ok(daemon.stderr().includes(socket), daemon.stderr());
    const ksock = await client(socket);
    assert.equal(await ksock.ksockId(), ksock.id);
    // --socket wins over KBUS_SOCKET.
    const other = socketPath('from-option.sock');
    const second = kbusd(['--socket', other], env);
    await second.serving();
    assert.ok(lstatSync(other).isSocket());
  });

  test('--devices 3 gives devices 0 to 2', async () => {
    const { socket, daemon } = await serve(['--devices', '3']);
    assert.match(daemon.stderr(), /serving 3 devices/);
    for (const device of [0, 1, 2]) {
      const ksock = await client(socket, device);
      assert.equal(ksock.device, device);
      assert.ok(ksock.id > 0);
    }
    await assert.rejects(
      Ksock.connect({ socket, device: 3 }),
      (err: unknown) => err instanceof KbusError && err.code === 'ENOENT',
    );
    // Devices are separate buses: an announcement on 1 does not reach 2.
    const one = await client(socket, 1);
    const two = await client(socket, 2);
    await one.bind('$.dev');
    await two.bind('$.dev');
    await one.announce('$.dev', 'on one');
    assert.equal((await one.receive({ timeout: 10_000 })).text(), 'on one');
    assert.equal(await two.numMessages(), 0);
    // NEWDEVICE makes device 3.
    assert.equal(await one.newDevice(), 3);
    const three = await client(socket, 3);
    assert.equal(three.device, 3);
  });

  test('--max-messages 5 is the queue limit of new Ksocks', async () => {
    const { socket } = await serve(['--max-messages', '5']);
    const listener = await client(socket);
    assert.equal(await listener.maxMessages(0), 5);
    const sender = await client(socket);
    await listener.bind('$.limited');
    for (let i = 0; i < 7; i++) await sender.announce('$.limited', `m${i}`);
    assert.equal(await listener.numMessages(), 5, 'the default send skips a full listener');
    await assert.rejects(
      sender.announce('$.limited', 'x', { flags: Flags.ALL_OR_FAIL }),
      (err: unknown) => err instanceof KbusError && err.code === 'EBUSY',
    );
    assert.equal((await listener.next())?.text(), 'm0');
    // And the default is 100.
    const { socket: plain } = await serve();
    assert.equal(await (await client(plain)).maxMessages(0), 100);
  });

  test('--max-message-size limits whole messages (EMSGSIZE) and frames', async () => {
    const { socket } = await serve(['--max-message-size', '4096']);
    const ksock = await client(socket);
    await ksock.bind('$.sized');
    // 64 header + 4 ("$.sized" is 7: name, NUL, padded to 8) ... entire = 64 + 8 + data + 4.
    const largest = 4096 - 64 - 8 - 4;
    await ksock.announce('$.sized', new Uint8Array(largest));
    const got = await ksock.receive({ timeout: 10_000 });
    assert.equal(got.data.length, largest);
    await assert.rejects(
      ksock.announce('$.sized', new Uint8Array(largest + 1)),
      (err: unknown) => err instanceof KbusError && err.code === 'EMSGSIZE',
    );
    // A frame past 8 + 4096 bytes is EMSGSIZE before it is looked at.
    const raw = await RawConnection.open(socket);
    try {
      await raw.write(encodeFrame(Op.STATS, 5, [], new Uint8Array(4097)));
      const response = await raw.next('EMSGSIZE');
      assert.equal(hex(response.bytes), le(12, Op.STATS, 5, -90));
      assertError(
        await raw.request(Op.WRITE, [], new Uint8Array(4100)),
        'EMSGSIZE',
        'WRITE of 4100 bytes',
      );
      assert.equal((await raw.request(Op.KSOCKID, [])).status, 0);
    } finally {
      raw.destroy();
    }
  });

  test('--max-unsent-unbind is accepted', async () => {
    const { socket } = await serve(['--max-unsent-unbind', '3']);
    await client(socket);
  });

  test('--verbose logs opens, binds and sends to stderr; without it, nothing', async () => {
    const verbose = await serve(['--verbose']);
    const ksock = await client(verbose.socket);
    await ksock.bind('$.logged.name');
    await ksock.announce('$.logged.name', 'x');
    const stderr = () => verbose.daemon.stderr();
    await waitFor(
      () => /open/i.test(stderr()) && /BIND/.test(stderr()) && /SENDMSG|send/i.test(stderr()),
      'kbusd --verbose to log the open, bind and send',
    );
    const lines = stderr().split('\n');
    assert.ok(
      lines.some((l) => /open/i.test(l) && l.includes(String(process.pid))),
      `an open line with the pid:\n${stderr()}`,
    );
    assert.ok(
      lines.some((l) => /BIND/.test(l)),
      'a BIND line',
    );
    assert.ok(
      lines.some((l) => /SENDMSG|send/i.test(l)),
      'a send line',
    );
    await ksock.close();
    await waitFor(() => /release|close/i.test(stderr()), 'kbusd --verbose to log the release');

    const quiet = await serve();
    const other = await client(quiet.socket);
    await other.bind('$.logged.name');
    await other.announce('$.logged.name', 'x');
    await other.receive({ timeout: 10_000 });
    await other.close();
    const text = quiet.daemon.stderr();
    assert.equal(text.trim().split('\n').length, 1, `only the serving line:\n${text}`);
  });
});
