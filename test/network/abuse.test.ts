/**
 * Hostile clients on the network listeners (docs/network.md "Limits"):
 * thousands of idle connections, a slow trickle, garbage on each transport,
 * WebSocket text and oversized messages, and the per-identity limits. The
 * daemon's memory stays bounded and a canary Ksock keeps its round trips
 * throughout.
 */
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import WebSocket from 'ws';
import { Ksock } from '../../src/client/index.js';
import { encodeFrame, Op } from '../../src/protocol/index.js';
import { Flags, KbusError, readU32LE } from '../../src/wire/index.js';
import { rssKb } from '../daemon/helpers.js';
import type { RunningDaemon } from '../support/daemon.js';
import { type Certs, makeCerts, startListening, tlsArgs } from '../support/network.js';

/** A request and its reply between two Ksocks on the Unix socket: the daemon still serves. */
async function canary(daemon: RunningDaemon): Promise<void> {
  await using replier = await Ksock.connect(daemon.socket);
  await using asker = await Ksock.connect(daemon.socket);
  await replier.bind('$.Canary', { replier: true });
  const reply = asker.request('$.Canary', 'ping', { timeout: 10_000 });
  await replier.replyTo(await replier.receive({ timeout: 10_000 }), 'pong');
  assert.equal(new TextDecoder().decode((await reply).data), 'pong');
}

function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(u.port) };
}

function tcpSocket(url: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(hostPort(url));
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves when the daemon has closed `socket` (bounded by the test's own timeout). */
function closedByDaemon(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    socket.resume();
    socket.once('close', () => resolve());
  });
}

/** Resolves with the close code the daemon closed a WebSocket with. */
function closeCode(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

function openWs(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['kbus']);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

const OPEN_FRAME = encodeFrame(Op.OPEN, 1, [1, 0, 3, 0]);

let certs: Certs;
before(() => {
  certs = makeCerts();
});
after(() => certs.remove());

describe('idle connections', () => {
  test('5,000 idle TCP connections: memory bounded, the canary served', async (t) => {
    const { daemon, addresses } = await startListening(
      ['tcp://127.0.0.1:0'],
      ['--open-timeout', '600'],
    );
    const sockets: Socket[] = [];
    try {
      const baseline = rssKb(daemon.process.pid!);
      for (let i = 0; i < 5000; i += 250) {
        const batch = await Promise.all(
          Array.from({ length: 250 }, () => tcpSocket(addresses[0]!)),
        );
        sockets.push(...batch);
      }
      // Half of them say a little (an OPEN's first bytes) and then nothing: half-open frames.
      for (const socket of sockets.slice(0, 2500)) socket.write(OPEN_FRAME.subarray(0, 6));
      await canary(daemon);
      const grown = rssKb(daemon.process.pid!) - baseline;
      // A few kB each at most: 5,000 connections well under 100 MB.
      t.diagnostic(`kbusd grew ${grown} kB for 5,000 idle connections`);
      assert.ok(grown < 100 * 1024, `kbusd grew ${grown} kB for 5,000 idle connections`);
      assert.equal(sockets.filter((s) => s.destroyed).length, 0, 'every connection still open');
    } finally {
      for (const socket of sockets) socket.destroy();
      await daemon.stop();
    }
  });

  test('a connection not opened within --open-timeout is closed; an opened one stays', async () => {
    const { daemon, addresses } = await startListening(
      ['tcp://127.0.0.1:0', 'ws://127.0.0.1:0/kbus'],
      ['--open-timeout', '0.3'],
    );
    try {
      await using opened = await Ksock.connect(addresses[0]!);
      const idle = await tcpSocket(addresses[0]!);
      await closedByDaemon(idle);
      const ws = await openWs(addresses[1]!);
      assert.equal(await closeCode(ws), 1006);
      assert.match(daemon.stderr(), /closed: not opened within 300 ms/);
      assert.ok(opened.id > 0);
      await opened.bind('$.Still');
      await canary(daemon);
    } finally {
      await daemon.stop();
    }
  });
});

describe('slow and bad input', () => {
  test('a frame trickled slower than --frame-timeout closes the connection', async () => {
    const { daemon, addresses } = await startListening(
      ['tcp://127.0.0.1:0'],
      ['--frame-timeout', '0.3'],
    );
    try {
      const socket = await tcpSocket(addresses[0]!);
      socket.write(OPEN_FRAME.subarray(0, 10));
      await closedByDaemon(socket);
      assert.match(daemon.stderr(), /a frame still incomplete after 300 ms/);
      await canary(daemon);
    } finally {
      await daemon.stop();
    }
  });

  test('before OPEN a large frame is EMSGSIZE, and nothing is kept for it', async () => {
    const { daemon, addresses } = await startListening(['tcp://127.0.0.1:0']);
    try {
      const socket = await tcpSocket(addresses[0]!);
      const header = new Uint8Array(12);
      new DataView(header.buffer).setUint32(0, 1_000_000, true);
      new DataView(header.buffer).setUint32(4, Op.SENDMSG, true);
      new DataView(header.buffer).setUint32(8, 7, true);
      const answer = new Promise<Buffer>((resolve) => socket.once('data', resolve));
      socket.write(header);
      const frame = await answer;
      assert.equal(readU32LE(frame, 8), 7);
      assert.equal(readU32LE(frame, 12) | 0, -90);
      socket.destroy();
    } finally {
      await daemon.stop();
    }
  });

  test('garbage on TCP, TLS and WebSocket closes that connection only', async () => {
    const { daemon, addresses } = await startListening(
      ['tcp://127.0.0.1:0', 'tls://127.0.0.1:0', 'ws://127.0.0.1:0/kbus'],
      tlsArgs(certs),
    );
    const [tcp, tls, ws] = addresses as [string, string, string];
    try {
      await using survivor = await Ksock.connect(ws);
      // TCP: a length under 8 is no frame at all.
      const raw = await tcpSocket(tcp);
      raw.write(Uint8Array.of(3, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef));
      await closedByDaemon(raw);
      // TLS: bytes that are no TLS handshake.
      const plain = await tcpSocket(tls);
      plain.write('GET / HTTP/1.0\r\n\r\n');
      await closedByDaemon(plain);
      // TLS, handshake done, then a bad frame.
      const secure = tlsConnect({ ...hostPort(tls), ca: certs.ca, servername: 'localhost' });
      await new Promise<void>((resolve) => secure.once('secureConnect', () => resolve()));
      secure.write(Uint8Array.of(0, 0, 0, 0));
      await closedByDaemon(secure as Socket);
      // WebSocket: a text message (1003), a binary message that is not one frame (1002),
      // a message over the frame limit (1009).
      const text = await openWs(ws);
      text.send('hello');
      assert.equal(await closeCode(text), 1003);
      const torn = await openWs(ws);
      torn.send(OPEN_FRAME.subarray(0, 10));
      assert.equal(await closeCode(torn), 1002);
      const huge = await openWs(ws);
      huge.send(new Uint8Array(2 * 1024 * 1024));
      assert.equal(await closeCode(huge), 1009);
      // Everyone else is served.
      await survivor.bind('$.Survivor');
      await survivor.announce('$.Survivor', 'x');
      assert.equal((await survivor.receive({ timeout: 5000 })).name, '$.Survivor');
      await canary(daemon);
    } finally {
      await daemon.stop();
    }
  });
});

describe('per-identity limits', () => {
  test('--max-ksocks-per-identity: one more OPEN is EMFILE, and a closed Ksock frees its place', async () => {
    const { daemon, addresses } = await startListening(
      ['tcp://127.0.0.1:0'],
      ['--max-ksocks-per-identity', '2'],
    );
    try {
      const a = await Ksock.connect(addresses[0]!);
      await using b = await Ksock.connect(addresses[0]!);
      await assert.rejects(Ksock.connect(addresses[0]!), (err: unknown) => {
        assert.ok(err instanceof KbusError);
        assert.equal(err.code, 'EMFILE');
        return true;
      });
      await a.close();
      await using c = await Ksock.connect(addresses[0]!);
      assert.ok(b.id > 0 && c.id > 0);
    } finally {
      await daemon.stop();
    }
  });

  test('--max-connections-per-identity: one more connection is dropped', async () => {
    const { daemon, addresses } = await startListening(
      ['tcp://127.0.0.1:0'],
      ['--max-connections-per-identity', '2'],
    );
    try {
      const first = await tcpSocket(addresses[0]!);
      const second = await tcpSocket(addresses[0]!);
      const third = await tcpSocket(addresses[0]!);
      await closedByDaemon(third);
      assert.ok(!first.destroyed && !second.destroyed);
      first.destroy();
      second.destroy();
    } finally {
      await daemon.stop();
    }
  });

  test("--max-identity-queue-bytes: one identity's queues fill together", async () => {
    const { daemon } = await startListening(
      ['tcp://127.0.0.1:0'],
      ['--max-identity-queue-bytes', '1K'],
    );
    try {
      // Every client here is the same (unidentified) identity.
      await using a = await Ksock.connect(daemon.socket);
      await using b = await Ksock.connect(daemon.socket);
      await using sender = await Ksock.connect(daemon.socket);
      await a.bind('$.Fill');
      await b.bind('$.Fill');
      await sender.announce('$.Fill', new Uint8Array(600));
      // Each queue holds one message, under its own budget; together they pass the identity's.
      await assert.rejects(
        sender.announce('$.Fill', 'x', { flags: Flags.ALL_OR_FAIL }),
        (err: unknown) => err instanceof KbusError && err.code === 'EBUSY',
      );
      await a.receive({ timeout: 5000 });
      await b.receive({ timeout: 5000 });
      await sender.announce('$.Fill', 'y', { flags: Flags.ALL_OR_FAIL });
    } finally {
      await daemon.stop();
    }
  });
});
