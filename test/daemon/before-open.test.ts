/**
 * protocol.md "Connection": BINDINGS, STATS and DEVICES are answered before
 * OPEN too and create no Ksock, so that a tool can read the bus's state
 * without appearing in it; MAXMSGSIZE (op 18) over the socket and through
 * the client.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import { KbusError, Op } from '../../src/internal.js';
import { type RunningDaemon, startDaemon } from '../support/daemon.js';
import { RawConnection } from './helpers.js';

const text = (body: Uint8Array) => Buffer.from(body).toString('latin1');

describe('before OPEN, and MAXMSGSIZE', () => {
  let daemon: RunningDaemon;
  const closing: { close(): unknown }[] = [];
  before(async () => {
    daemon = await startDaemon(['--devices', '3', '--max-message-size', '8192']);
  });
  after(async () => {
    for (const c of closing) await c.close();
    assert.equal(await daemon.stop(), 0);
  });

  test('DEVICES, BINDINGS and STATS are answered before OPEN, and no Ksock appears', async () => {
    const listener = await Ksock.connect(daemon.socket);
    closing.push(listener);
    await listener.bind('$.Seen');
    const conn = await RawConnection.connect(daemon.socket);
    closing.push({ close: () => conn.destroy() });
    const devices = await conn.request(Op.DEVICES, []);
    assert.equal(devices.status, 0);
    assert.equal(devices.word(0), 3, 'three devices');
    const bindings = await conn.request(Op.BINDINGS, []);
    assert.equal(bindings.status, 0);
    assert.match(text(bindings.payload.subarray(4)), /L {2}\$\.Seen$/m);
    const stats = await conn.request(Op.STATS, []);
    assert.equal(stats.status, 0);
    // Only the listener's Ksock is open on device 0: the tool made none.
    const ksocks = text(stats.payload.subarray(4)).match(/^ {4}ksock \d+/gm) ?? [];
    assert.equal(ksocks.length, 1, text(stats.payload.subarray(4)));
    // Anything else before OPEN is still EBADF, and OPEN may follow.
    const early = await conn.request(Op.KSOCKID, []);
    assert.equal(early.status, -9);
    const open = await conn.request(Op.OPEN, [1, 0, 3, process.pid]);
    assert.equal(open.status, 0);
  });

  test('the client asks and sets the device’s largest message, and asks how many devices', async () => {
    const a = await Ksock.connect(daemon.socket, { device: 2 });
    const b = await Ksock.connect(daemon.socket, { device: 2 });
    closing.push(a, b);
    assert.equal(await a.devices(), 3);
    assert.equal(await a.maxMessageSize(), 8192, 'the daemon’s --max-message-size');
    assert.equal(await a.setMaxMessageSize(100), 100);
    assert.equal(await b.maxMessageSize(), 100, 'the device’s, for every Ksock on it');
    await assert.rejects(
      b.announce('$.Big', new Uint8Array(64)),
      (err: unknown) => err instanceof KbusError && err.code === 'EMSGSIZE',
    );
    await assert.rejects(
      a.setMaxMessageSize(75),
      (err: unknown) => err instanceof KbusError && err.code === 'EINVAL',
    );
    assert.equal(await a.setMaxMessageSize(1), 8192, '1 asks the absolute maximum');
    assert.equal(await a.maxMessageSize(), 100, 'and changes nothing');
  });
});
