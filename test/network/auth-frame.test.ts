/**
 * The AUTH frame at the byte level (protocol.md 6.13): when it is allowed,
 * what a daemon without a policy answers, and what follows a refusal.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Op } from '../../src/protocol/index.js';
import { RawConnection } from '../daemon/helpers.js';
import { startDaemon, tempDir } from '../support/daemon.js';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('AUTH (0x60)', () => {
  test('without a policy any token is answered 0; after OPEN AUTH is EINVAL; an unknown method is EINVAL', async () => {
    const daemon = await startDaemon();
    const conn = await RawConnection.connect(daemon.socket);
    try {
      assert.equal((await conn.request(Op.AUTH, [2], bytes('x'))).status, -22);
      assert.equal((await conn.request(Op.AUTH, [1], bytes('anything'))).status, 0);
      assert.equal((await conn.request(Op.OPEN, [1, 0, 3, 0])).status, 0);
      assert.equal((await conn.request(Op.AUTH, [1], bytes('anything'))).status, -22);
    } finally {
      conn.destroy();
      await daemon.stop();
    }
  });

  test('with a policy a good token is 0; an unknown one is EACCES and the connection is closed', async () => {
    const dir = tempDir();
    const policy = join(dir.path, 'p');
    const hash = createHash('sha256').update('good').digest('hex');
    writeFileSync(policy, `user u token sha256:${hash}\nallow u open 0 rw\n`);
    const daemon = await startDaemon(['--policy', policy]);
    try {
      const good = await RawConnection.connect(daemon.socket);
      // Unix clients are nobody here: OPEN is refused until AUTH.
      assert.equal((await good.request(Op.OPEN, [1, 0, 3, 0])).status, -1);
      assert.equal((await good.request(Op.AUTH, [1], bytes('good'))).status, 0);
      assert.equal((await good.request(Op.OPEN, [1, 0, 3, 0])).status, 0);
      good.destroy();
      const bad = await RawConnection.connect(daemon.socket);
      const refused = await bad.request(Op.AUTH, [1], bytes('bad'));
      assert.equal(refused.status, -13);
      await assert.rejects(bad.request(Op.DEVICES, []));
    } finally {
      await daemon.stop();
      dir.remove();
    }
  });
});
