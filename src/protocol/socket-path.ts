import { lstatSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where the default socket is, and the private directory it needs, if any. */
export interface SocketLocation {
  readonly path: string;
  /**
   * The directory kbusd must create (mode 0700) before listening: set only
   * for the fallback under the temporary directory, which every local user
   * can write to.
   */
  readonly privateDir?: string;
}

/**
 * A directory that should be the user's own is not: it belongs to another
 * user, is not a directory, or others may use it. `code` is 'EACCES' (and
 * `errno` 13), as for a system error, so that callers treat it as one.
 */
export class UnsafeSocketDirError extends Error {
  readonly code = 'EACCES';
  readonly errno = 13;

  constructor(
    readonly dir: string,
    why: string,
  ) {
    super(
      `${dir} ${why}, so a socket in it may be another user's: ` +
        'remove it (as its owner or root) and start kbusd again, ' +
        'or set XDG_RUNTIME_DIR or KBUS_SOCKET to a place of your own',
    );
    this.name = 'UnsafeSocketDirError';
  }
}

function currentUid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : 0;
}

/**
 * `$KBUS_SOCKET` if set, else `$XDG_RUNTIME_DIR/kbus.sock`, else
 * `<tmp>/kbus-<uid>/kbus.sock`. The fallback lives in a directory of the
 * user's own: `/tmp/kbus-<uid>.sock` could be made first by another local
 * user, whose daemon would then receive everything sent (root, cron and
 * services usually have no XDG_RUNTIME_DIR).
 */
export function defaultSocketLocation(env: NodeJS.ProcessEnv = process.env): SocketLocation {
  if (env.KBUS_SOCKET) return { path: env.KBUS_SOCKET };
  if (env.XDG_RUNTIME_DIR) return { path: join(env.XDG_RUNTIME_DIR, 'kbus.sock') };
  const privateDir = join(tmpdir(), `kbus-${currentUid()}`);
  return { path: join(privateDir, 'kbus.sock'), privateDir };
}

/**
 * Throws UnsafeSocketDirError unless `dir` is a directory (not a link)
 * owned by this user that no one else may enter. A missing directory is
 * fine unless `mustExist`: no socket can be in it.
 */
export function checkPrivateDir(dir: string, mustExist = false): void {
  let stats: ReturnType<typeof lstatSync>;
  try {
    stats = lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !mustExist) return;
    throw err;
  }
  const uid = currentUid();
  if (!stats.isDirectory()) throw new UnsafeSocketDirError(dir, 'is not a directory');
  if (stats.uid !== uid)
    throw new UnsafeSocketDirError(dir, `belongs to uid ${stats.uid}, not to you (uid ${uid})`);
  if ((stats.mode & 0o077) !== 0)
    throw new UnsafeSocketDirError(dir, `has mode ${(stats.mode & 0o777).toString(8)}, not 700`);
}

/** Creates `dir` with mode 0700 unless it exists, then checks it is the user's own. */
export function makePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  checkPrivateDir(dir, true);
}

/**
 * Where kbusd listens unless told otherwise, and where clients look (see
 * defaultSocketLocation). For the fallback, throws UnsafeSocketDirError if
 * its directory exists and is not the user's own, so that nothing is sent
 * to a socket someone else made.
 */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  const { path, privateDir } = defaultSocketLocation(env);
  if (privateDir !== undefined) checkPrivateDir(privateDir);
  return path;
}
