/**
 * `kbus devices` and `kbus max-message-size` as real processes against a
 * real kbusd: DEVICES asked without a Ksock, MAXMSGSIZE asked and set per
 * device, and wrong sizes refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import { type RunningDaemon, startDaemon } from '../support/daemon.js';
import { assertExit, kbus } from './helpers.js';

const MAX = 8192;

describe('kbus devices and kbus max-message-size', () => {
  let daemon: RunningDaemon;
  let socket: string;

  before(async () => {
    daemon = await startDaemon(['--devices', '2', '--max-message-size', String(MAX)]);
    socket = daemon.socket;
  });

  after(async () => {
    await daemon.stop();
  });

  test('devices: the count, as text and as JSON, and it follows NEWDEVICE', async () => {
    const text = await kbus(['devices'], { socket });
    assertExit(text, 0);
    assert.equal(text.stdout, '2\n');
    await using ksock = await Ksock.connect(socket);
    await ksock.newDevice();
    const json = await kbus(['--json', 'devices'], { socket });
    assertExit(json, 0);
    assert.deepEqual(JSON.parse(json.stdout), { devices: 3 });
  });

  test("max-message-size: asks the device's limit, sets it, and 'max' restores the daemon's", async () => {
    const asked = await kbus(['--device', '1', 'max-message-size'], { socket });
    assertExit(asked, 0);
    assert.equal(asked.stdout, `${MAX}\n`);

    const set = await kbus(['--device', '1', '--json', 'max-message-size', '200'], { socket });
    assertExit(set, 0);
    assert.deepEqual(JSON.parse(set.stdout), { device: 1, maxMessageSize: 200 });
    // Per device: device 0 keeps the daemon's maximum.
    assert.equal((await kbus(['max-message-size'], { socket })).stdout, `${MAX}\n`);
    // A message longer than device 1's limit is refused there (EMSGSIZE, exit 90).
    const long = await kbus(['--device', '1', 'send', '$.Long', 'x'.repeat(300)], { socket });
    assertExit(long, 90);
    assert.match(long.stderr, /EMSGSIZE/);

    const restored = await kbus(['--device', '1', 'max-message-size', 'max'], { socket });
    assertExit(restored, 0);
    assert.equal(restored.stdout, `${MAX}\n`);
    const after = await kbus(['--device', '1', 'max-message-size'], { socket });
    assert.equal(after.stdout, `${MAX}\n`);
  });

  test('sizes below the least message or above the maximum exit 64, naming the bounds', async () => {
    for (const bad of ['75', '0', 'ten', String(MAX + 1)]) {
      const result = await kbus(['max-message-size', bad], { socket });
      assertExit(result, 64, `max-message-size ${bad}`);
    }
    const above = await kbus(['max-message-size', String(MAX + 1)], { socket });
    assert.match(above.stderr, new RegExp(`at most ${MAX} bytes`));
    assert.equal((await kbus(['max-message-size'], { socket })).stdout, `${MAX}\n`);
  });
});
