/**
 * Batches the frames one end of a connection sends (the daemon's responses
 * and pushes, or a client's requests): frames are encoded straight into
 * a shared slab and written to the socket once per batch, not once per
 * frame. Honours backpressure: `blocked` is true from a write() that
 * returned false until 'drain'.
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { copyFor, type QueuedMessage } from '../engine/index.js';
import {
  encodedLength,
  encodeMessage,
  FRAME_HEADER_LENGTH,
  type Message,
  type MessageInit,
  writeFrameHeader,
} from '../wire/index.js';

const SLAB = 64 * 1024;

/** Copies an entire message's bytes to `at` with `flags` in them (copies of one message may differ there). */
function putEntire(buf: Buffer, at: number, encoded: Uint8Array, flags: number): void {
  buf.set(encoded, at);
  buf.writeUInt32LE(flags, at + 48);
}

/** Writes `m` at `at`: a copy of its encoding when it has one (with this copy's flags), else encoded now. */
function put(buf: Buffer, at: number, m: Message | MessageInit): void {
  const encoded = (m as { encoded?: Uint8Array }).encoded;
  if (encoded === undefined) encodeMessage(m, true, buf, at);
  else putEntire(buf, at, encoded, m.flags ?? 0);
}

function lengthOf(m: Message | MessageInit): number {
  return (m as { encoded?: Uint8Array }).encoded?.length ?? encodedLength(m);
}
const MIN_LEFTOVER = 4 * 1024;
/** Bytes waiting in the socket beyond which its reader counts as behind. */
const BEHIND = 64 * 1024;

export class FrameWriter {
  /** The whole slab `buf` is carved from: all of it is free again once the socket holds no write. */
  private slab = Buffer.allocUnsafe(SLAB);
  private buf = this.slab;
  private view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  private pos = 0;
  private scheduled = false;
  blocked = false;

  /** Whether a write the socket completes at once leaves it no reference (true of net.Socket, not of in-memory streams). */
  private readonly reusable: boolean;

  constructor(
    private readonly socket: Duplex,
    private readonly onDrain: () => void,
    private readonly onBlocked: () => void = () => {},
  ) {
    this.reusable = socket instanceof Socket;
    socket.on('drain', () => {
      this.blocked = false;
      this.onDrain();
    });
  }

  /** Bytes encoded but not yet handed to the socket. */
  get pending(): number {
    return this.pos;
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.flush();
    if (n > this.buf.length) {
      this.slab = Buffer.allocUnsafe(Math.max(SLAB, n));
      this.buf = this.slab;
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
    }
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

  /**
   * A response whose result is `prefixWords` then whole messages (NEXTREAD,
   * NEXTREADS), each encoded in place.
   */
  messagesResponse(
    op: number,
    tag: number,
    prefixWords: readonly number[],
    messages: readonly Message[],
  ): void {
    let payload = 4 + 4 * prefixWords.length;
    for (const m of messages) payload += lengthOf(m);
    this.reserve(FRAME_HEADER_LENGTH + payload);
    let at = writeFrameHeader(this.view, this.pos, payload, op, tag);
    this.view.setInt32(at, 0, true);
    at += 4;
    for (const word of prefixWords) {
      this.view.setUint32(at, word >>> 0, true);
      at += 4;
    }
    for (const m of messages) {
      put(this.buf, at, m);
      at += lengthOf(m);
    }
    this.pos = at;
    this.schedule();
  }

  /** A frame of u32 words then optional bytes: an EVENT (tag 0), a response, or a client's request. */
  frame(op: number, words: readonly number[], tag = 0, tail?: Uint8Array): void {
    const payload = 4 * words.length + (tail?.length ?? 0);
    this.reserve(FRAME_HEADER_LENGTH + payload);
    let at = writeFrameHeader(this.view, this.pos, payload, op, tag);
    for (const word of words) {
      this.view.setUint32(at, word >>> 0, true);
      at += 4;
    }
    if (tail) {
      this.buf.set(tail, at);
      at += tail.length;
    }
    this.pos = at;
    this.schedule();
  }

  message(op: number, message: Message | MessageInit, tag = 0): void {
    const length = lengthOf(message);
    this.reserve(FRAME_HEADER_LENGTH + length);
    const at = writeFrameHeader(this.view, this.pos, length, op, tag);
    put(this.buf, at, message);
    this.pos = at + length;
    this.schedule();
  }

  /** A queued message (STREAM's MESSAGE push): its bytes as they are, with this copy's flags. */
  queued(op: number, item: QueuedMessage, tag = 0): void {
    const encoded = item.encoded;
    if (encoded === undefined) {
      this.message(op, copyFor(item), tag);
      return;
    }
    const length = encoded.length;
    this.reserve(FRAME_HEADER_LENGTH + length);
    const at = writeFrameHeader(this.view, this.pos, length, op, tag);
    putEntire(this.buf, at, encoded, item.flags);
    this.pos = at + length;
    this.schedule();
  }

  /** A response with two result words (ids), without an array. */
  response2(op: number, tag: number, a: number, b: number): void {
    this.reserve(FRAME_HEADER_LENGTH + 12);
    const at = writeFrameHeader(this.view, this.pos, 12, op, tag);
    this.buf.writeInt32LE(0, at);
    this.buf.writeUInt32LE(a, at + 4);
    this.buf.writeUInt32LE(b, at + 8);
    this.pos = at + 12;
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** Hands what is encoded to the socket now. */
  flush(): void {
    if (this.pos === 0 || this.socket.destroyed) {
      this.pos = 0;
      return;
    }
    const out = this.buf.subarray(0, this.pos);
    this.pos = 0;
    const accepted = this.socket.write(out);
    if (this.reusable && this.socket.writableLength === 0) {
      // The kernel took it all at once: the socket holds none of the slab
      // any more, so the whole of it serves the next batch (no allocation).
      if (this.buf !== this.slab) {
        this.buf = this.slab;
        this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
      }
    } else {
      // The socket keeps `out`; carry on in the rest of the slab if enough is left.
      const start = out.length;
      if (this.buf.length - start >= MIN_LEFTOVER) {
        this.buf = this.buf.subarray(start);
      } else {
        this.slab = Buffer.allocUnsafe(SLAB);
        this.buf = this.slab;
      }
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
    }
    // write() says false for any batch over the stream's high-water mark,
    // even one the kernel has just taken whole. Only bytes still waiting in
    // the stream mean the reader is behind.
    if (!accepted && this.socket.writableLength > BEHIND) {
      this.blocked = true;
      this.onBlocked();
    }
  }
}
