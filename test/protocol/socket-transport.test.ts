/**
 * The frame writer reuses its buffer as soon as the transport says it has
 * finished with a write. For a Node socket that rests on one fact Node does
 * not document: a write the kernel takes at once leaves writableLength 0
 * and no reference to the chunk. These tests hold Node to it, and would
 * fail if a Node release changed it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SocketTransport } from '../../src/internal.js';
import { within } from '../support/wait.js';

describe('SocketTransport over a Unix socket', () => {
  let dir: string;
  let server: Server;
  let client: Socket;
  let peer: Socket;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kbus-transport-'));
    const path = join(dir, 's');
    const accepted = new Promise<Socket>((resolve) => {
      server = createServer(resolve);
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    client = connect(path);
    await new Promise<void>((resolve) => client.once('connect', resolve));
    peer = await accepted;
  });

  after(async () => {
    client.destroy();
    peer.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  /** Collects what the peer reads until `length` bytes have come. */
  function readExactly(length: number): Promise<Uint8Array> {
    const chunks: Buffer[] = [];
    let got = 0;
    return new Promise((resolve) => {
      const onData = (chunk: Buffer) => {
        chunks.push(chunk);
        got += chunk.length;
        if (got >= length) {
          peer.off('data', onData);
          resolve(new Uint8Array(Buffer.concat(chunks)));
        }
      };
      peer.on('data', onData);
    });
  }

  test('a small write is taken at once: the transport lets go of the bytes, which may be reused', async () => {
    const transport = new SocketTransport(client);
    transport.attach({ data: () => {}, drain: () => {}, close: () => {} });
    const bytes = new Uint8Array(1024).map((_, i) => i & 0xff);
    const expected = bytes.slice();
    const arrived = readExactly(bytes.length);
    const held = transport.write(bytes);
    assert.equal(client.writableLength, 0, 'Node left the chunk queued after a small write');
    assert.equal(held, false);
    // Reuse the buffer at once, as the frame writer does.
    bytes.fill(0xee);
    assert.deepEqual(await within(arrived, 'the peer reading the write'), expected);
  });

  test('a write the kernel cannot take at once is held, and reported as held', async () => {
    const transport = new SocketTransport(client);
    transport.attach({ data: () => {}, drain: () => {}, close: () => {} });
    peer.pause();
    // Far more than a Unix socket's kernel buffer, with nobody reading.
    const bytes = new Uint8Array(8 * 1024 * 1024).fill(7);
    const held = transport.write(bytes);
    assert.equal(held, true);
    assert.ok(transport.backlog > 0, 'the socket reports its backlog');
    const arrived = readExactly(bytes.length);
    peer.resume();
    const got = await within(arrived, 'the peer reading 8 MiB');
    assert.equal(got.length, bytes.length);
    assert.ok(got.every((b) => b === 7));
  });
});
