/**
 * Ksock.post(): SENDMSG with no promise. Messages posted arrive in order
 * with the sends before and after them; a failure reaches onError as the
 * error send() would reject with (its errno, the name explained), and the
 * Ksock carries on; on a closed Ksock onError is called at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import { Flags, KbusError } from '../../src/wire/index.js';
import { type RunningDaemon, startDaemon } from '../support/daemon.js';
import { within } from '../support/wait.js';

const WAIT = 10_000;

describe('Ksock.post', () => {
  let daemon: RunningDaemon;
  before(async () => {
    daemon = await startDaemon();
  });
  after(async () => {
    assert.equal(await daemon.stop(), 0, daemon.stderr());
  });

  test('posted messages arrive, in order with sent ones, and nothing is reported', async () => {
    const sender = await Ksock.connect(daemon.socket);
    const listener = await Ksock.connect(daemon.socket);
    try {
      await listener.bind('$.post.order');
      const errors: Error[] = [];
      const onError = (err: Error) => errors.push(err);
      await sender.announce('$.post.order', 'first');
      // Fewer than a queue's default 100, so that the listener misses none.
      for (let i = 0; i < 50; i++) sender.post({ name: '$.post.order', data: `p${i}` }, onError);
      const last = await sender.announce('$.post.order', 'last');
      const got: string[] = [];
      for (let i = 0; i < 52; i++) {
        got.push(new TextDecoder().decode((await listener.receive({ timeout: WAIT })).data));
      }
      assert.deepEqual(got, ['first', ...Array.from({ length: 50 }, (_, i) => `p${i}`), 'last']);
      // Serial numbers say the posts were sent (and numbered) between the two sends.
      assert.equal(last.serialNum, 52);
      assert.deepEqual(errors, []);
    } finally {
      await sender.close();
      await listener.close();
    }
  });

  test("a failure reaches onError with send()'s error, and the Ksock carries on", async () => {
    const k = await Ksock.connect(daemon.socket);
    try {
      const failed = new Promise<Error>((resolve) => {
        // A request nobody answers: EADDRNOTAVAIL (Kbus.txt "Error numbers").
        k.post({ name: '$.post.nobody', flags: Flags.WANT_A_REPLY }, resolve);
      });
      const err = await within(failed, 'the posted request to fail', WAIT);
      assert.ok(err instanceof KbusError, String(err));
      assert.equal(err.code, 'EADDRNOTAVAIL');
      assert.match(err.message, /\$\.post\.nobody/);
      // The same Ksock still sends.
      await k.bind('$.post.after');
      await k.announce('$.post.after');
      assert.equal((await k.receive({ timeout: WAIT })).name, '$.post.after');
    } finally {
      await k.close();
    }
  });

  test('data that is not data throws at once, as send() does, and nothing is sent', async () => {
    const k = await Ksock.connect(daemon.socket);
    try {
      await k.bind('$.post.typed');
      const before = await k.announce('$.post.typed', 'before');
      assert.throws(
        () => k.post({ name: '$.post.typed', data: 5 as unknown as string }, () => {}),
        /must be a string or bytes/,
      );
      const after = await k.announce('$.post.typed', 'after');
      // Serial numbers are the device's: the bad post took none, so nothing was sent.
      assert.equal(after.serialNum, before.serialNum + 1);
      const got = [await k.receive({ timeout: WAIT }), await k.receive({ timeout: WAIT })];
      assert.deepEqual(
        got.map((m) => new TextDecoder().decode(m.data)),
        ['before', 'after'],
      );
    } finally {
      await k.close();
    }
  });

  test('on a closed Ksock, onError is called at once with EBADF', async () => {
    const k = await Ksock.connect(daemon.socket);
    await k.close();
    let err: Error | undefined;
    k.post({ name: '$.post.closed' }, (e) => {
      err = e;
    });
    assert.ok(err instanceof KbusError, String(err));
    assert.equal(err.code, 'EBADF');
  });
});
