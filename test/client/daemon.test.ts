/**
 * The client conformance suite over a real kbusd: one daemon process on a
 * temporary socket for each describe block, stopped after it.
 */
import assert from 'node:assert/strict';
import { Ksock } from '../../src/client/index.js';
import { startDaemon } from '../support/daemon.js';
import { conformance } from './conformance.js';

conformance('kbusd', async () => {
  const daemon = await startDaemon();
  return {
    open: (options) => Ksock.connect({ socket: daemon.socket, ...options }),
    stop: async () => {
      const code = await daemon.stop();
      assert.equal(code, 0, `kbusd exited with ${code}: ${daemon.stderr()}`);
    },
  };
});
