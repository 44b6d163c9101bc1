/**
 * kbusd's --max-queue-bytes and --max-total-queue-bytes: how they are
 * written, what a bad value does, and that they reach the engine.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import { parseBytes } from '../../src/daemon/main.js';
import { entireMessageLength, Flags, KbusError } from '../../src/wire/index.js';
import { tempDir } from '../support/daemon.js';
import { type Kbusd, runKbusd, within } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

describe('byte counts on the kbusd command line', () => {
  test('are whole numbers of bytes, or K, M, G, KiB, MiB, GiB (powers of 1024)', () => {
    const good: [string, number][] = [
      ['1', 1],
      ['65536', 65536],
      ['64K', 64 * KiB],
      ['64KiB', 64 * KiB],
      ['64k', 64 * KiB],
      ['32M', 32 * MiB],
      ['32MiB', 32 * MiB],
      ['1G', GiB],
      ['2GiB', 2 * GiB],
    ];
    for (const [text, value] of good) assert.equal(parseBytes(text), value, text);
    const bad = ['', '0', '0M', '-1', '1.5M', '12X', '1e6', 'M', '1 M', '64MB', '9999999999G'];
    for (const text of bad) assert.equal(parseBytes(text), undefined, JSON.stringify(text));
  });
});

describe('kbusd --max-queue-bytes and --max-total-queue-bytes', () => {
  const daemons: Kbusd[] = [];
  const clients: Ksock[] = [];
  const dirs: { remove: () => void }[] = [];

  after(async () => {
    for (const client of clients) await client.close().catch(() => {});
    for (const daemon of daemons) await daemon.kill();
    for (const dir of dirs) dir.remove();
  });

  function kbusd(args: string[]): { daemon: Kbusd; socket: string } {
    const dir = tempDir('kbusd-budget-');
    dirs.push(dir);
    const socket = join(dir.path, 'kbus.sock');
    const daemon = runKbusd(['--socket', socket, ...args]);
    daemons.push(daemon);
    return { daemon, socket };
  }

  async function client(socket: string): Promise<Ksock> {
    const ksock = await Ksock.connect({ socket });
    clients.push(ksock);
    return ksock;
  }

  test('--help shows both, beside --max-messages', async () => {
    const { daemon } = kbusd(['--help']);
    const { code } = await within(daemon.exited, 'kbusd --help to exit', 30_000);
    assert.equal(code, 0);
    const usage = daemon.stdout();
    const at = (flag: string) => usage.indexOf(flag);
    assert.ok(at('--max-messages') >= 0);
    assert.ok(at('--max-queue-bytes') > at('--max-messages'));
    assert.ok(at('--max-total-queue-bytes') > at('--max-queue-bytes'));
  });

  test('a bad value is a usage error naming the option', async () => {
    const runs = [
      ['--max-queue-bytes', '12X'],
      ['--max-queue-bytes', '0'],
      ['--max-total-queue-bytes', '1.5G'],
    ].map((args) => ({ args, ...kbusd(args) }));
    for (const { args, daemon } of runs) {
      const { code } = await within(daemon.exited, `kbusd ${args.join(' ')} to exit`, 30_000);
      assert.equal(code, 64, `${args.join(' ')}: exit code (EX_USAGE)`);
      assert.ok(daemon.stderr().includes(args[0]!), `stderr names ${args[0]}: ${daemon.stderr()}`);
      assert.ok(!daemon.stderr().includes('serving'));
    }
  });

  test("--max-queue-bytes makes a Ksock's queue full by bytes", async () => {
    const { daemon, socket } = kbusd(['--max-queue-bytes', '1K']);
    await daemon.serving();
    const listener = await client(socket);
    const sender = await client(socket);
    await listener.bind('$.bytes');
    const data = new Uint8Array(200);
    // 276 bytes each: the fourth reaches 1 KiB, so a fifth is missed.
    assert.equal(entireMessageLength('$.bytes'.length, data.length), 276);
    for (let i = 0; i < 6; i++) await sender.announce('$.bytes', data);
    assert.equal(await listener.numMessages(), 4);
    await assert.rejects(
      sender.announce('$.bytes', data, { flags: Flags.ALL_OR_FAIL }),
      (err: unknown) => err instanceof KbusError && err.code === 'EBUSY',
    );
  });

  test('--max-total-queue-bytes makes every queue full once all of them hold that much', async () => {
    const { daemon, socket } = kbusd(['--max-total-queue-bytes', '1KiB']);
    await daemon.serving();
    const first = await client(socket);
    const second = await client(socket);
    const sender = await client(socket);
    await first.bind('$.first');
    await second.bind('$.second');
    const data = new Uint8Array(200);
    for (let i = 0; i < 6; i++) await sender.announce('$.first', data);
    assert.equal(await first.numMessages(), 4);
    await sender.announce('$.second', data);
    assert.equal(await second.numMessages(), 0, 'the overall budget is spent');
    await first.next();
    await sender.announce('$.second', data);
    assert.equal(await second.numMessages(), 1, 'reading freed room');
  });
});
