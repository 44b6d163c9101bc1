/**
 * Two connected in-memory transports, like the two ends of a socket: what
 * one end writes the other receives (the very bytes, on a later microtask,
 * in order), with backpressure; ending one end lets the other answer, then
 * closes both (as a socket's half-close). The embedded bus runs the
 * daemon's connection handler on one end, so that it behaves exactly as a
 * daemon does.
 */
import type { Transport, TransportEvents } from './transport.js';

/** Backlog past which a write asks for a drain event, as a socket's high-water mark does. */
const HIGH_WATER = 16 * 1024;

class MemoryEnd implements Transport {
  peer!: MemoryEnd;
  private events: TransportEvents | undefined;
  /** What this end wrote and the peer has not yet received. */
  private readonly outbox: Uint8Array[] = [];
  private outboxHead = 0;
  private queued = 0;
  private needDrain = false;
  private deliveryScheduled = false;
  private paused = false;
  private ending = false;
  private isClosed = false;

  attach(events: TransportEvents): void {
    this.events = events;
  }

  get backlog(): number {
    return this.queued;
  }

  get closed(): boolean {
    return this.isClosed || this.ending;
  }

  write(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    this.outbox.push(bytes);
    this.queued += bytes.length;
    if (this.queued >= HIGH_WATER) this.needDrain = true;
    this.scheduleDelivery();
    return true;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.peer.scheduleDelivery();
  }

  end(): void {
    if (this.closed) return;
    this.ending = true;
    // Closes once the peer has received everything already written.
    this.scheduleDelivery();
  }

  destroy(error?: Error): void {
    if (this.isClosed) return;
    this.closeBoth(error);
  }

  private scheduleDelivery(): void {
    if (this.deliveryScheduled) return;
    this.deliveryScheduled = true;
    queueMicrotask(() => {
      this.deliveryScheduled = false;
      this.deliver();
    });
  }

  /** Hands the peer what this end wrote, while the peer is willing to receive. */
  private deliver(): void {
    const peer = this.peer;
    while (this.outboxHead < this.outbox.length && !peer.paused && !this.isClosed) {
      const bytes = this.outbox[this.outboxHead]!;
      this.outbox[this.outboxHead++] = EMPTY;
      this.queued -= bytes.length;
      peer.events?.data(bytes);
    }
    if (this.outboxHead === this.outbox.length) {
      this.outbox.length = 0;
      this.outboxHead = 0;
    }
    if (this.isClosed) return;
    if (this.queued === 0 && this.needDrain) {
      this.needDrain = false;
      this.events?.drain();
    }
    if (this.ending && this.queued === 0) this.peerFinished();
  }

  /**
   * This end has ended and the peer has all it wrote. As after a socket's
   * half-close, the peer may still answer (its end event); then it ends
   * too, and both close once that has been delivered.
   */
  private peerFinished(): void {
    const peer = this.peer;
    if (peer.isClosed) return;
    if (!peer.ending) {
      peer.events?.end?.();
      if (peer.isClosed) return;
      peer.ending = true;
      peer.scheduleDelivery();
    } else if (peer.queued === 0) {
      this.closeBoth(undefined);
    }
  }

  private closeBoth(error: Error | undefined): void {
    for (const end of [this, this.peer]) {
      if (end.isClosed) continue;
      end.isClosed = true;
      end.outbox.length = 0;
      end.outboxHead = 0;
      end.queued = 0;
      const events = end.events;
      // Asynchronously, as a socket reports its close: never inside the caller's own call.
      queueMicrotask(() => events?.close(end === this ? error : undefined));
    }
  }
}

const EMPTY = new Uint8Array(0);

/** Two connected in-memory transports. */
export function memoryTransportPair(): [Transport, Transport] {
  const a = new MemoryEnd();
  const b = new MemoryEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
