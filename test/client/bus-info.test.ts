/**
 * BusInfo: the device count and the /proc/kbus texts, asked of a real
 * kbusd without opening a Ksock (protocol.md: DEVICES, BINDINGS and STATS
 * before OPEN).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BusInfo, Ksock } from '../../src/client/index.js';
import { type RunningDaemon, startDaemon } from '../support/daemon.js';

describe('BusInfo', () => {
  let daemon: RunningDaemon;

  before(async () => {
    daemon = await startDaemon(['--devices', '3']);
  });

  after(async () => {
    await daemon.stop();
  });

  test('devices() counts the devices, NEWDEVICE included', async () => {
    await using bus = await BusInfo.connect(daemon.socket);
    assert.equal(await bus.devices(), 3);
    await using ksock = await Ksock.connect(daemon.socket);
    assert.equal(await ksock.newDevice(), 3);
    assert.equal(await bus.devices(), 4);
  });

  test('bindings() and stats() show the Ksocks of others, and no Ksock of its own', async () => {
    await using listener = await Ksock.connect(daemon.socket, { device: 1 });
    await listener.bind('$.Info.Watched');
    await using bus = await BusInfo.connect(daemon.socket);
    const bindings = await bus.bindings();
    assert.match(
      bindings,
      new RegExp(`^ {2}1: +${listener.id} +${process.pid} {2}L {2}\\$\\.Info\\.Watched$`, 'm'),
    );
    const stats = await bus.stats();
    const device1 = stats.split(/^dev {2}2:/m)[0]!.split(/^dev {2}1:/m)[1]!;
    const ids = [...device1.matchAll(/^ {4}ksock (\d+) /gm)].map((m) => Number(m[1]));
    assert.deepEqual(ids, [listener.id]);
    // Asking spent no Ksock id: the next one is the listener's + 1.
    assert.match(device1, new RegExp(`^ next ksock ${listener.id + 1} `));
  });

  test('after close() every call fails and closed is true', async () => {
    const bus = await BusInfo.connect(daemon.socket);
    await bus.close();
    assert.equal(bus.closed, true);
    await assert.rejects(bus.devices());
    await bus.close();
  });

  test('a socket nobody serves is refused with its path and ENOENT', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kbus-businfo-'));
    const path = join(dir, 'none.sock');
    try {
      await assert.rejects(BusInfo.connect(path), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ENOENT');
        assert.ok(err.message.includes(path), err.message);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an empty path is refused before connecting, saying what to give', async () => {
    await assert.rejects(BusInfo.connect(''), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'KBUS_NO_SOCKET_PATH');
      return true;
    });
  });
});
