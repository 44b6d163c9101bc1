/**
 * The bus-to-link direction's output: messages are encoded for the link
 * straight into a shared slab and leave in one socket write per batch
 * (what one turn of the event loop forwards), not one write, one buffer
 * and one stream entry per message.
 */
import type { Socket } from 'node:net';
import { allocate } from '../protocol/alloc.js';
import { copyReordered, encodedLength, type Message } from '../wire/index.js';
import { encodeLinkMessageInto } from './link-codec.js';

const SLAB = 64 * 1024;
/** A batch this large leaves at once rather than at the end of the turn. */
const FLUSH_AT = 48 * 1024;
/** Past a flush, carry on in the rest of the slab only if this much is left. */
const MIN_LEFTOVER = 4 * 1024;

export class LinkWriter {
  private slab = allocate(SLAB);
  private buf = this.slab;
  private pos = 0;
  private scheduled = false;
  private draining: Promise<void> | undefined;

  /**
   * `stamp` applies the forwarding rules' stamping to a message copied in
   * as bytes, where it lies in the slab (LimpetCore.stampLink).
   */
  constructor(
    private readonly socket: Socket,
    private readonly stamp: (link: Uint8Array, at: number) => void = () => {},
  ) {}

  /**
   * Adds `message` to the batch. Returns a promise to wait on before
   * writing more when the link is behind (its 'drain'), else undefined.
   */
  write(message: Message): Promise<void> | undefined {
    // The link's byte order changes no length.
    const length = encodedLength(message);
    const at = this.reserve(length);
    encodeLinkMessageInto(message, this.buf, at);
    return this.added(length);
  }

  /**
   * write() of a message as the bus pushed it (its entire bytes, checked),
   * with no bind event data to convert: copied into the link's byte order
   * and stamped, never decoded.
   */
  writeFromBus(bytes: Uint8Array): Promise<void> | undefined {
    const length = bytes.length;
    const at = this.reserve(length);
    copyReordered(bytes, 0, length, this.buf, at);
    this.stamp(this.buf, at);
    return this.added(length);
  }

  /** Where `length` more bytes go in the batch. */
  private reserve(length: number): number {
    if (this.pos + length > this.buf.length) {
      this.flush();
      if (length > this.buf.length) {
        this.slab = allocate(Math.max(SLAB, length));
        this.buf = this.slab;
      }
    }
    return this.pos;
  }

  /** `length` bytes were written at the end of the batch: see that they leave. */
  private added(length: number): Promise<void> | undefined {
    this.pos += length;
    if (this.pos >= FLUSH_AT) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      // After the microtasks now running: what the bus hands over in one go
      // (a read's worth of pushes) leaves together.
      process.nextTick(() => {
        this.scheduled = false;
        this.flush();
      });
    }
    if (!this.socket.writableNeedDrain) return undefined;
    // One promise (and one listener) per drain, however many writers wait on it.
    this.draining ??= new Promise<void>((resolve) =>
      this.socket.once('drain', () => {
        this.draining = undefined;
        resolve();
      }),
    );
    return this.draining;
  }

  /** Hands the batch to the socket now. */
  flush(): void {
    if (this.pos === 0) return;
    const out = this.buf.subarray(0, this.pos);
    this.pos = 0;
    if (this.socket.destroyed) return;
    this.socket.write(out);
    // The socket keeps `out` until it is sent: carry on past it, or in a new slab.
    if (this.buf.length - out.length >= MIN_LEFTOVER) this.buf = this.buf.subarray(out.length);
    else {
      this.slab = allocate(SLAB);
      this.buf = this.slab;
    }
  }
}
