/**
 * The default socket path's fallback (no KBUS_SOCKET, no XDG_RUNTIME_DIR,
 * as for root, cron and services) is in a directory of the user's own, so
 * that another local user cannot make the socket first and receive what is
 * sent: kbusd makes the directory 0700 and refuses one that is not the
 * user's; clients refuse it too.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, lstatSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import {
  checkPrivateDir,
  defaultSocketLocation,
  UnsafeSocketDirError,
} from '../../src/protocol/socket-path.js';
import { kbus } from '../cli/helpers.js';
import { tempDir } from '../support/daemon.js';
import { type Kbusd, runKbusd, within } from './helpers.js';

const uid = process.getuid!();
/** Another user's uid (nobody) for the squatter; only root can give it a directory. */
const OTHER_UID = 65534;
const isRoot = uid === 0;

/** An environment with only the fallback: TMPDIR is `tmp`, no KBUS_SOCKET or XDG_RUNTIME_DIR. */
function fallbackEnv(tmp: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp };
  delete env.KBUS_SOCKET;
  delete env.XDG_RUNTIME_DIR;
  return env;
}

describe('the fallback socket path', () => {
  const daemons: Kbusd[] = [];
  const dirs: { remove: () => void }[] = [];
  const clients: Ksock[] = [];
  after(async () => {
    for (const client of clients) await client.close().catch(() => {});
    for (const daemon of daemons) await daemon.kill();
    for (const dir of dirs) dir.remove();
  });
  function tmp(): string {
    const dir = tempDir('kbus-fallback-');
    dirs.push(dir);
    return dir.path;
  }
  function kbusd(args: string[], env: NodeJS.ProcessEnv): Kbusd {
    const daemon = runKbusd(args, env);
    daemons.push(daemon);
    return daemon;
  }

  test('is <tmp>/kbus-<uid>/kbus.sock; KBUS_SOCKET and XDG_RUNTIME_DIR come first', () => {
    const fallback = defaultSocketLocation({});
    assert.equal(fallback.path, join(tmpdir(), `kbus-${uid}`, 'kbus.sock'));
    assert.equal(fallback.privateDir, join(tmpdir(), `kbus-${uid}`));
    assert.deepEqual(defaultSocketLocation({ XDG_RUNTIME_DIR: '/run/user/7' }), {
      path: '/run/user/7/kbus.sock',
    });
    assert.deepEqual(defaultSocketLocation({ KBUS_SOCKET: '/x.sock', XDG_RUNTIME_DIR: '/r' }), {
      path: '/x.sock',
    });
  });

  test('kbusd makes the directory 0700, owned by the user, and clients find the socket', async () => {
    const dir = tmp();
    const env = fallbackEnv(dir);
    const daemon = kbusd([], env);
    await daemon.serving();
    const privateDir = join(dir, `kbus-${uid}`);
    const socket = join(privateDir, 'kbus.sock');
    const stats = lstatSync(privateDir);
    assert.ok(stats.isDirectory());
    assert.equal(stats.mode & 0o777, 0o700);
    assert.equal(stats.uid, uid);
    assert.ok(lstatSync(socket).isSocket());
    assert.ok(daemon.stderr().includes(socket), daemon.stderr());
    // `kbus` with the same environment reaches it.
    const listener = await Ksock.connect({ socket });
    clients.push(listener);
    await listener.bind('$.fallback');
    const sent = await kbus(['send', '$.fallback', 'hello'], { env });
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal((await listener.receive({ timeout: 10_000 })).text(), 'hello');
  });

  test('a directory of the user with group or other access is refused (exit 1)', async () => {
    const dir = tmp();
    const privateDir = join(dir, `kbus-${uid}`);
    mkdirSync(privateDir);
    chmodSync(privateDir, 0o755);
    const daemon = kbusd([], fallbackEnv(dir));
    const { code } = await within(daemon.exited, 'kbusd to exit', 30_000);
    assert.equal(code, 1);
    assert.match(daemon.stderr(), /^kbusd: .*mode 755, not 700/);
    assert.throws(
      () => checkPrivateDir(privateDir),
      (err: unknown) => err instanceof UnsafeSocketDirError && err.code === 'EACCES',
    );
  });

  test("a directory made first by another user is refused: nothing reaches that user's daemon", async (t) => {
    if (!isRoot) {
      t.skip('needs root, to give a directory to another uid');
      return;
    }
    const dir = tmp();
    const env = fallbackEnv(dir);
    // The squatter makes <tmp>/kbus-0/ before root's kbusd and serves in it.
    const squatted = join(dir, `kbus-${uid}`);
    mkdirSync(squatted, { mode: 0o777 });
    chmodSync(squatted, 0o777);
    const socket = join(squatted, 'kbus.sock');
    const squatter = kbusd(['--socket', socket, '--socket-mode', '666'], env);
    await squatter.serving();
    chownSync(squatted, OTHER_UID, OTHER_UID);
    chownSync(socket, OTHER_UID, OTHER_UID);
    const spy = await Ksock.connect({ socket });
    clients.push(spy);
    await spy.bind('$.secret');

    // Clients refuse the default path...
    assert.throws(() => checkPrivateDir(squatted), /belongs to uid 65534/);
    const sent = await kbus(['send', '$.secret', 'password'], { env });
    assert.notEqual(sent.code, 0, 'kbus send must not succeed');
    assert.ok(sent.stderr.includes(squatted), sent.stderr);
    assert.match(sent.stderr, /belongs to uid 65534/);
    assert.equal(await spy.numMessages(), 0, 'the squatter received nothing');

    // ...and so does kbusd, leaving the squatter's socket alone.
    const daemon = kbusd([], env);
    const { code } = await within(daemon.exited, 'kbusd to exit', 30_000);
    assert.equal(code, 1, daemon.stderr());
    assert.match(daemon.stderr(), /^kbusd: .*belongs to uid 65534.*KBUS_SOCKET/);
    assert.ok(lstatSync(socket).isSocket());
    assert.equal(await spy.numMessages(), 0);
  });
});
