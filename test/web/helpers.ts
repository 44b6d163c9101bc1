/**
 * A real kbusd for the web tests: a WebSocket listener, the HTTP listener,
 * and a policy that lets a browser in with a token (and local Unix clients
 * in as they are), on ports the system picks.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type RunningDaemon, startDaemon, tempDir } from '../support/daemon.js';

export interface WebDaemon {
  readonly daemon: RunningDaemon;
  /** http://127.0.0.1:PORT (no trailing slash). */
  readonly http: string;
  /** ws://127.0.0.1:PORT/kbus */
  readonly ws: string;
  /** The token the policy knows. */
  readonly token: string;
  stop(): Promise<void>;
}

export async function startWebDaemon(): Promise<WebDaemon> {
  const dir = tempDir('kbus-web-');
  const token = randomBytes(16).toString('hex');
  const hash = createHash('sha256').update(token).digest('hex');
  const policy = join(dir.path, 'policy');
  writeFileSync(
    policy,
    `user web token sha256:${hash}\nuser local unix\nallow web all\nallow local all\n`,
  );
  const daemon = await startDaemon([
    '--listen',
    'ws://127.0.0.1:0/kbus',
    '--http',
    '127.0.0.1:0',
    '--policy',
    policy,
  ]);
  const log = daemon.stderr();
  const http = /metrics and console on (http:\/\/\S+?)\/(\s|$)/.exec(log)?.[1];
  const ws = /listening on (ws:\/\/\S+)/.exec(log)?.[1];
  assert.ok(http && ws, `kbusd said where it listens: ${log}`);
  return {
    daemon,
    http,
    ws,
    token,
    stop: async () => {
      await daemon.stop();
      dir.remove();
    },
  };
}
