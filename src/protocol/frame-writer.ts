/**
 * Batches the frames one end of a connection sends (the daemon's responses
 * and pushes, or a client's requests): frames are encoded straight into
 * a shared slab and handed to the transport once per batch (a microtask),
 * not once per frame. Honours backpressure: `blocked` is true from a flush
 * that left the transport's backlog past BEHIND until its drain event.
 */
import {
  type EntireMessage,
  encodedLength,
  encodeMessage,
  type MessageInit,
  writeU32LE,
} from '../wire/index.js';
import { allocate } from './alloc.js';
import { FRAME_HEADER_LENGTH, writeFrameHeader } from './frame.js';
import type { Transport } from './transport.js';

const SLAB = 64 * 1024;

/** Past a flush, carry on in the rest of the slab only if this much is left. */
const MIN_LEFTOVER = 4 * 1024;
/** Bytes waiting in the transport beyond which its reader counts as behind. */
const BEHIND = 64 * 1024;
/**
 * The longest hold() keeps a batch back, in ms: about ten round trips
 * through kbusd, and setTimeout's own least delay.
 */
const HOLD_MS = 1;

export class FrameWriter {
  /** The whole slab `buf` is carved from: all of it is free again once the transport holds none of it. */
  private slab = allocate(SLAB);
  private buf = this.slab;
  private pos = 0;
  private scheduled = false;
  /** hold() was called and nothing has been written since. */
  private held = false;
  private holdTimer: ReturnType<typeof setTimeout> | undefined;
  blocked = false;

  /**
   * `onBlocked` is called when the reader falls behind, `onDrain` when it
   * has caught up again (call drained() from the transport's drain event).
   */
  constructor(
    private readonly transport: Transport,
    private readonly onDrain: () => void = () => {},
    private readonly onBlocked: () => void = () => {},
  ) {}

  /** The transport's drain event: the reader has caught up. */
  drained(): void {
    this.blocked = false;
    this.onDrain();
  }

  /** Bytes encoded but not yet handed to the transport. */
  get pending(): number {
    return this.pos;
  }

  /** Makes room for `n` more bytes and returns where they go. */
  private reserve(n: number): number {
    if (this.pos + n <= this.buf.length) return this.pos;
    this.flush();
    if (n > this.buf.length) {
      this.slab = allocate(Math.max(SLAB, n));
      this.buf = this.slab;
    }
    return this.pos;
  }

  /** A response: status, then (on success) u32 words, then optional bytes. */
  response(
    op: number,
    tag: number,
    status: number,
    words: readonly number[] = [],
    tail?: Uint8Array,
  ): void {
    // protocol.md: on failure no result fields follow the status.
    if (status < 0) this.frame(op, [status], tag);
    else this.frame(op, [status, ...words], tag, tail);
  }

  /** A successful response carrying a message id (SEND, SENDMSG, LASTSENT), without an array. */
  idResponse(op: number, tag: number, networkId: number, serialNum: number): void {
    const start = this.reserve(FRAME_HEADER_LENGTH + 12);
    const at = writeFrameHeader(this.buf, start, 12, op, tag);
    writeU32LE(this.buf, at, 0);
    writeU32LE(this.buf, at + 4, networkId);
    writeU32LE(this.buf, at + 8, serialNum);
    this.pos = at + 12;
    this.schedule();
  }

  /**
   * A successful response whose result is `count` then that many entire
   * messages (NEXTREAD's length or NEXTREADS's count), each written in place.
   */
  messagesResponse(
    op: number,
    tag: number,
    count: number,
    messages: readonly EntireMessage[],
  ): void {
    let payload = 8;
    for (const m of messages) payload += m.length;
    let at = this.reserve(FRAME_HEADER_LENGTH + payload);
    const b = this.buf;
    at = writeFrameHeader(b, at, payload, op, tag);
    writeU32LE(b, at, 0);
    writeU32LE(b, at + 4, count);
    at += 8;
    for (const m of messages) {
      m.writeTo(b, at);
      at += m.length;
    }
    this.pos = at;
    this.schedule();
  }

  /** A frame of u32 words then optional bytes: an EVENT (tag 0), a response, or a client's request. */
  frame(op: number, words: readonly number[], tag = 0, tail?: Uint8Array): void {
    const payload = 4 * words.length + (tail?.length ?? 0);
    let at = this.reserve(FRAME_HEADER_LENGTH + payload);
    const b = this.buf;
    at = writeFrameHeader(b, at, payload, op, tag);
    for (const word of words) {
      writeU32LE(b, at, word >>> 0);
      at += 4;
    }
    if (tail) {
      b.set(tail, at);
      at += tail.length;
    }
    this.pos = at;
    this.schedule();
  }

  /** A frame whose payload is one entire message (a MESSAGE push, or a client's SENDMSG of bytes). */
  entire(op: number, message: EntireMessage, tag = 0): void {
    const length = message.length;
    let at = this.reserve(FRAME_HEADER_LENGTH + length);
    at = writeFrameHeader(this.buf, at, length, op, tag);
    message.writeTo(this.buf, at);
    this.pos = at + length;
    this.schedule();
  }

  /** A frame whose payload is `message` encoded as an entire message (a client's SENDMSG). */
  message(op: number, message: MessageInit, tag = 0): void {
    const length = encodedLength(message);
    let at = this.reserve(FRAME_HEADER_LENGTH + length);
    at = writeFrameHeader(this.buf, at, length, op, tag);
    encodeMessage(message, true, this.buf, at);
    this.pos = at + length;
    this.schedule();
  }

  /**
   * Lets what is pending wait, up to HOLD_MS, for the next frame, so that
   * both leave in one write: one wake-up of the reader instead of two. The
   * first frame written after this, or flush(), ends the hold. For a
   * response the client has no need to see early: the SENDMSG of a request
   * whose reply will be pushed soon after. Frames keep their order; only
   * when they leave changes. Whoever ends the transport flushes first, so
   * that nothing held is lost.
   */
  hold(): void {
    if (this.pos > 0) this.held = true;
  }

  private schedule(): void {
    // A frame after hold(): the held batch goes with it, at the usual time.
    if (this.held) this.unhold();
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      if (this.held) this.holdTimer ??= setTimeout(() => this.flush(), HOLD_MS);
      else this.flush();
    });
  }

  private unhold(): void {
    this.held = false;
    if (this.holdTimer !== undefined) {
      clearTimeout(this.holdTimer);
      this.holdTimer = undefined;
    }
  }

  /** Hands what is encoded to the transport now. */
  flush(): void {
    if (this.held) this.unhold();
    const transport = this.transport;
    if (this.pos === 0 || transport.closed) {
      this.pos = 0;
      return;
    }
    const out = this.buf.subarray(0, this.pos);
    this.pos = 0;
    if (!transport.write(out)) {
      // The transport has finished with the batch: the whole slab serves the next one.
      this.buf = this.slab;
    } else if (this.buf.length - out.length >= MIN_LEFTOVER) {
      // The transport keeps `out`; carry on in the rest of the slab.
      this.buf = this.buf.subarray(out.length);
    } else {
      this.slab = allocate(SLAB);
      this.buf = this.slab;
    }
    if (!this.blocked && transport.backlog > BEHIND) {
      this.blocked = true;
      this.onBlocked();
    }
  }
}
