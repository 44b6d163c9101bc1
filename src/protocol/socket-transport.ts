/**
 * A Node stream socket (Unix, TCP, TLS) as a Transport.
 */
import type { Duplex } from 'node:stream';
import type { Transport, TransportEvents } from './transport.js';

export class SocketTransport implements Transport {
  private isClosed = false;
  private events: TransportEvents | undefined;

  constructor(readonly socket: Duplex) {}

  attach(events: TransportEvents): void {
    this.events = events;
    const socket = this.socket;
    socket.on('data', (chunk: Uint8Array) => events.data(chunk));
    socket.on('drain', () => events.drain());
    // The peer finished: finish our side too (a connection is one Ksock, never half open).
    // The owner first writes what it still owes: the socket is still open for writing.
    socket.on('end', () => {
      events.end?.();
      socket.end();
      this.closed_(undefined);
    });
    socket.on('close', () => this.closed_(undefined));
    socket.on('error', (err) => {
      this.closed_(err);
      socket.destroy();
    });
  }

  /** Reports the close once, whichever of end, close and error comes first. */
  private closed_(error: Error | undefined): void {
    this.isClosed = true;
    const events = this.events;
    this.events = undefined;
    events?.close(error);
  }

  get closed(): boolean {
    return this.isClosed || this.socket.destroyed;
  }

  get backlog(): number {
    return this.socket.writableLength;
  }

  /**
   * Node's socket keeps a reference to a chunk until the kernel has taken
   * all of it; a write the kernel takes at once (writableLength 0 just after
   * it) leaves none. test/protocol/socket-transport.test.ts holds Node to
   * this, so that the frame writer may reuse its buffer at once.
   */
  write(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    this.socket.write(bytes);
    return this.socket.writableLength !== 0;
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    if (!this.closed) this.socket.resume();
  }

  end(): void {
    this.isClosed = true;
    this.socket.end();
  }

  destroy(error?: Error): void {
    this.socket.destroy(error);
  }
}
