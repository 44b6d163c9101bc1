/**
 * The baseline relay's framing, shared by the relay and its clients:
 *
 *     u32 length    -- bytes after this field (4 + payload)
 *     u32 channel
 *     ...payload
 *
 * little-endian. Channel 0 is SUBSCRIBE: its payload is a list of u32
 * channels to receive. Any other frame goes, unchanged, to every other
 * connection subscribed to its channel. No other semantics: no ids, no
 * acknowledgements, no queues beyond the sockets' own.
 */
import type { Socket } from 'node:net';

export const HEADER_LENGTH = 8;
export const SUBSCRIBE = 0;
/** Larger frames are refused (the connection is closed). */
export const MAX_FRAME = 16 * 1024 * 1024;

export function subscribeFrame(channels: readonly number[]): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_LENGTH + 4 * channels.length);
  frame.writeUInt32LE(4 + 4 * channels.length, 0);
  frame.writeUInt32LE(SUBSCRIBE, 4);
  channels.forEach((c, i) => {
    frame.writeUInt32LE(c, HEADER_LENGTH + 4 * i);
  });
  return frame;
}

/** Writes one frame's header at `at`; the payload follows it. */
export function writeHeader(into: Buffer, at: number, channel: number, payload: number): void {
  into.writeUInt32LE(4 + payload, at);
  into.writeUInt32LE(channel, at + 4);
}

/**
 * Cuts a byte stream into whole frames. A frame that arrives in one chunk
 * is handed on as a view of that chunk (no copy); one split across chunks
 * is joined once, when its last byte arrives.
 */
export class FrameReader {
  private parts: Buffer[] = [];
  private size = 0;
  /** Bytes needed before the buffered parts can yield anything. */
  private need = 0;

  /** Calls `onFrame` with each whole frame (header included) in `chunk`. */
  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    let buf = chunk;
    if (this.size > 0) {
      this.parts.push(chunk);
      this.size += chunk.length;
      if (this.size < this.need) return;
      buf = Buffer.concat(this.parts, this.size);
      this.parts = [];
      this.size = 0;
    }
    let at = 0;
    while (buf.length - at >= 4) {
      const length = buf.readUInt32LE(at);
      if (length < 4 || length > MAX_FRAME) throw new Error(`bad frame length ${length}`);
      const end = at + 4 + length;
      if (end > buf.length) break;
      onFrame(buf.subarray(at, end));
      at = end;
    }
    if (at < buf.length) {
      const tail = buf.subarray(at);
      this.parts = [tail];
      this.size = tail.length;
      this.need = tail.length >= 4 ? 4 + tail.readUInt32LE(0) : 4;
    }
  }
}

const SLAB = 64 * 1024;
const MIN_LEFTOVER = 4 * 1024;
/** Frames at least this long are queued as they are rather than copied into the slab. */
const COPY_LIMIT = 8 * 1024;

/**
 * Batches what goes to one socket, as a good Node broker does: small frames
 * are copied into a slab and written together; large ones are passed by
 * reference (writev through cork/uncork). `flush()` returns false when the
 * socket wants the sender to wait for 'drain'.
 */
const EMPTY = Buffer.alloc(0);

export class BatchWriter {
  /** Allocated on first use, so that an idle connection holds none. */
  private slab = EMPTY;
  private start = 0;
  private pos = 0;
  private queued: Buffer[] = [];

  constructor(private readonly socket: Socket) {}

  get empty(): boolean {
    return this.pos === this.start && this.queued.length === 0;
  }

  add(frame: Buffer): void {
    if (frame.length >= COPY_LIMIT) {
      this.cut();
      this.queued.push(frame);
      return;
    }
    if (this.pos + frame.length > this.slab.length) {
      this.cut();
      this.slab = Buffer.allocUnsafe(SLAB);
      this.start = 0;
      this.pos = 0;
    }
    frame.copy(this.slab, this.pos);
    this.pos += frame.length;
  }

  private cut(): void {
    if (this.pos > this.start) {
      this.queued.push(this.slab.subarray(this.start, this.pos));
      this.start = this.pos;
    }
  }

  flush(): boolean {
    this.cut();
    const queued = this.queued;
    if (queued.length === 0) return true;
    this.queued = [];
    if (this.slab.length - this.pos < MIN_LEFTOVER) {
      this.slab = EMPTY;
      this.start = 0;
      this.pos = 0;
    }
    if (this.socket.destroyed) return true;
    if (queued.length === 1) return this.socket.write(queued[0]!);
    this.socket.cork();
    let ok = true;
    for (const b of queued) ok = this.socket.write(b);
    this.socket.uncork();
    return ok;
  }
}
