import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Where kbusd listens unless told otherwise, and where clients look:
 * `$KBUS_SOCKET` if set, else `$XDG_RUNTIME_DIR/kbus.sock`, else
 * `/tmp/kbus-<uid>.sock`.
 */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KBUS_SOCKET) return env.KBUS_SOCKET;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'kbus.sock');
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return join(tmpdir(), `kbus-${uid}.sock`);
}
