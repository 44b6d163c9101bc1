/**
 * The baseline: a raw Node relay over a Unix socket, the practical limit
 * for a broker written in Node. Frames (relay-wire.ts) are routed by
 * channel to every subscriber, with none of KBUS's semantics, but with the
 * batching and backpressure a good broker has: frames are handed on
 * without copying where possible, each destination gets one write per
 * incoming chunk, and a source is paused while a destination it feeds is
 * full.
 *
 *     node dist/bench/relay.js --socket PATH
 *
 * Prints "relay: serving PATH" on stderr when ready; exits on SIGTERM,
 * SIGINT, or when its stdin closes (so it never outlives the bench).
 */
import { unlinkSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { BatchWriter, FrameReader, HEADER_LENGTH, SUBSCRIBE } from './relay-wire.js';

class Conn {
  readonly reader = new FrameReader();
  readonly out: BatchWriter;
  /** Connections paused because this one's socket is full. */
  readonly paused = new Set<Conn>();
  dirty = false;

  constructor(readonly socket: Socket) {
    this.out = new BatchWriter(socket);
  }
}

class Relay {
  private readonly channels = new Map<number, Conn[]>();
  private readonly dirty: Conn[] = [];

  readonly server = createServer((socket) => this.accept(socket));

  private accept(socket: Socket): void {
    const conn = new Conn(socket);
    socket.setNoDelay?.(true);
    socket.on('data', (chunk: Buffer) => {
      try {
        conn.reader.push(chunk, (frame) => this.route(conn, frame));
      } catch {
        socket.destroy();
      }
      this.flush(conn);
    });
    socket.on('drain', () => {
      for (const source of conn.paused) source.socket.resume();
      conn.paused.clear();
    });
    socket.on('error', () => {});
    socket.on('close', () => this.drop(conn));
  }

  private route(from: Conn, frame: Buffer): void {
    const channel = frame.readUInt32LE(4);
    if (channel === SUBSCRIBE) {
      for (let at = HEADER_LENGTH; at + 4 <= frame.length; at += 4) {
        const c = frame.readUInt32LE(at);
        const subs = this.channels.get(c);
        if (subs) subs.push(from);
        else this.channels.set(c, [from]);
      }
      return;
    }
    const subs = this.channels.get(channel);
    if (subs === undefined) return;
    for (const to of subs) {
      if (to === from) continue;
      to.out.add(frame);
      if (!to.dirty) {
        to.dirty = true;
        this.dirty.push(to);
      }
    }
  }

  /** One write per destination for everything this chunk produced; pause `source` if one is full. */
  private flush(source: Conn): void {
    for (const to of this.dirty) {
      to.dirty = false;
      if (!to.out.flush() && !to.socket.destroyed) {
        to.paused.add(source);
        source.socket.pause();
      }
    }
    this.dirty.length = 0;
  }

  private drop(conn: Conn): void {
    for (const [c, subs] of this.channels) {
      const i = subs.indexOf(conn);
      if (i >= 0) subs.splice(i, 1);
      if (subs.length === 0) this.channels.delete(c);
    }
    for (const source of conn.paused) source.socket.resume();
    conn.paused.clear();
  }
}

function main(): void {
  const { values } = parseArgs({ options: { socket: { type: 'string' } } });
  const path = values.socket;
  if (path === undefined) {
    process.stderr.write('usage: relay --socket PATH\n');
    process.exit(2);
  }
  const relay = new Relay();
  const stop = () => {
    try {
      unlinkSync(path);
    } catch {}
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
  relay.server.listen(path, () => process.stderr.write(`relay: serving ${path}\n`));
}

main();
