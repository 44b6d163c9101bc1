/**
 * Two connected in-memory streams, like the two ends of a socket: what one
 * end writes the other reads, with backpressure, and destroying one end
 * closes both. The embedded transport runs the daemon's connection handler
 * on one end, so it behaves exactly as a daemon does.
 */
import { Duplex } from 'node:stream';

class End extends Duplex {
  peer!: End;
  private waiting: (() => void) | undefined;

  override _read(): void {
    // Our reader wants more: let the peer's blocked write complete.
    const waiting = this.peer.waiting;
    if (waiting) {
      this.peer.waiting = undefined;
      waiting();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    if (this.peer.push(chunk)) callback();
    else this.waiting = callback;
  }

  override _final(callback: () => void): void {
    this.peer.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
    if (!this.peer.destroyed) this.peer.destroy();
    callback(error);
  }
}

export function memoryPair(): [Duplex, Duplex] {
  const a = new End();
  const b = new End();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
