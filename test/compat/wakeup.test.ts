/**
 * Wake-ups under sustained traffic: a `poll` on a Ksock must see the EVENT
 * that kbusd sends for its arming even when that EVENT reaches the layer in
 * the same read as the arming POLL's response (it is then already in the
 * layer's buffer and the socket will not turn readable for it again).
 *
 * First, the exact case against a scripted stand-in for kbusd that always
 * writes the two frames together; then two thousand round trips between two
 * C processes under the layer against a real kbusd, where the daemon does so
 * whenever a request arrives just as the replier arms.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { type Finished, killStragglers } from '../cli/helpers.js';
import { type RunningDaemon, startDaemon, tempDir } from '../support/daemon.js';
import {
  backgroundUnderLayer,
  checkPrerequisites,
  LAYER,
  PROGRAM_MS,
  Programs,
  underLayer,
} from './support.js';

const run = promisify(execFile);

const OP_OPEN = 0x40;
const OP_POLL = 0x43;
const OP_EVENT = 0x80;
const POLLIN = 0x1;
const POLLOUT = 0x4;

function response(op: number, tag: number, status: number, result?: number): Buffer {
  const frame = Buffer.alloc(result === undefined ? 16 : 20);
  frame.writeUInt32LE(frame.length - 4, 0);
  frame.writeUInt32LE(op, 4);
  frame.writeUInt32LE(tag, 8);
  frame.writeInt32LE(status, 12);
  if (result !== undefined) frame.writeUInt32LE(result, 16);
  return frame;
}

function event(mask: number): Buffer {
  const frame = Buffer.alloc(16);
  frame.writeUInt32LE(12, 0);
  frame.writeUInt32LE(OP_EVENT, 4);
  frame.writeUInt32LE(mask, 12);
  return frame;
}

/**
 * A stand-in for kbusd serving one Ksock that has no message until it is
 * armed for POLLIN: the arming POLL is answered "writable only" and, in the
 * same socket write, followed by its EVENT (a message arrived at once); from
 * then on the Ksock is readable. Every other request succeeds.
 */
function standIn(): Server {
  return createServer((socket: Socket) => {
    let buffered = Buffer.alloc(0);
    let arrived = false;
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32LE(0)) {
        const length = buffered.readUInt32LE(0);
        const op = buffered.readUInt32LE(4);
        const tag = buffered.readUInt32LE(8);
        const notify = length >= 12 ? buffered.readUInt32LE(12) : 0;
        buffered = buffered.subarray(4 + length);
        if (op === OP_OPEN) socket.write(response(op, tag, 0, 1));
        else if (op === OP_POLL && notify & POLLIN && !arrived) {
          arrived = true;
          socket.write(Buffer.concat([response(op, tag, 0, POLLOUT), event(POLLIN)]));
        } else if (op === OP_POLL) socket.write(response(op, tag, 0, POLLOUT | (arrived ? 1 : 0)));
        else socket.write(response(op, tag, 0));
      }
    });
    socket.on('end', () => socket.end());
    socket.on('error', () => {});
  });
}

/** Opens /dev/kbus0 and polls it for POLLIN with no timeout: only the EVENT can end the wait. */
const POLL_FOREVER = [
  'import os, select',
  "fd = os.open('/dev/kbus0', os.O_RDWR)",
  'p = select.poll()',
  'p.register(fd, select.POLLIN)',
  "print('ready' if p.poll(-1) == [(fd, select.POLLIN)] else 'wrong')",
  'os.close(fd)',
].join('\n');

describe('the layer wakes a poller for every EVENT', () => {
  const dir = tempDir('kbus-compat-wakeup-');
  let programs: Programs;
  let peer: string;
  let daemon: RunningDaemon;

  before(async () => {
    checkPrerequisites();
    programs = new Programs();
    peer = programs.compile('peer');
    daemon = await startDaemon(['--max-messages', '100']);
  });

  after(async () => {
    await killStragglers();
    await daemon?.stop();
    programs?.remove();
    dir.remove();
  });

  test('an EVENT read together with the arming POLL response ends the wait', async () => {
    const socket = join(dir.path, 'stand-in.sock');
    const server = standIn();
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const { stdout } = await run('python3', ['-c', POLL_FOREVER], {
        env: { ...process.env, LD_PRELOAD: LAYER, KBUS_SOCKET: socket },
        timeout: PROGRAM_MS,
      });
      assert.equal(stdout, 'ready\n');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('two thousand round trips between two C processes complete', async () => {
    const rounds = '2000';
    const name = '$.Compat.Sustained';
    const replier = backgroundUnderLayer(daemon.socket, [peer, 'replier', name, rounds]);
    await replier.waitForOutput((out) => out.startsWith('ready\n'), 'the replier to bind');
    // Each wait in peer.c is bounded (20 s), and the whole run by PROGRAM_MS.
    const requester: Finished = await underLayer(daemon.socket, [peer, 'requester', name, rounds]);
    assert.equal(requester.code, 0, `requester: ${requester.stdout} ${requester.stderr}`);
    assert.match(requester.stdout, /^\{"p50":[\d.]+,"p99":[\d.]+\}$/m);
    const replied = await replier.exit(PROGRAM_MS);
    assert.equal(replied.code, 0, `replier: ${replied.stdout} ${replied.stderr}`);
  });
});
