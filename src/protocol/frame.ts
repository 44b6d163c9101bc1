/**
 * Frames of the socket protocol between the daemon and its clients:
 *
 *     u32 length   -- bytes after this field (8 + payload)
 *     u32 op
 *     u32 tag
 *     ...payload
 *
 * all little-endian. The decoder is incremental and checks the length
 * before buffering anything: a frame past the limit is reported (so it
 * can be answered EMSGSIZE) and its payload skipped, never stored.
 */
import { readU32LE, writeU32LE } from '../wire/index.js';
import { allocate } from './alloc.js';

/** Operation numbers: 1 to 17 are the seed's ioctls, with the seed's numbers. */
export const Op = {
  RESET: 1,
  BIND: 2,
  UNBIND: 3,
  KSOCKID: 4,
  REPLIER: 5,
  NEXTMSG: 6,
  LENLEFT: 7,
  SEND: 8,
  DISCARD: 9,
  LASTSENT: 10,
  MAXMSGS: 11,
  NUMMSGS: 12,
  UNREPLIEDTO: 13,
  MSGONLYONCE: 14,
  VERBOSE: 15,
  NEWDEVICE: 16,
  REPORTREPLIERBINDS: 17,
  /** The later KBUS's ioctl: the device's largest message. */
  MAXMSGSIZE: 18,
  OPEN: 0x40,
  WRITE: 0x41,
  READ: 0x42,
  POLL: 0x43,
  SENDMSG: 0x44,
  NEXTREAD: 0x45,
  NEXTREADS: 0x46,
  STREAM: 0x47,
  /** Messages this Ksock missed, as a listener, because its queue was full. */
  MISSED: 0x48,
  BINDINGS: 0x50,
  STATS: 0x51,
  /** How many devices there are; answered before OPEN too. */
  DEVICES: 0x52,
  /** Before OPEN: u32 method (1: bearer token), then the token's bytes (docs/network.md). */
  AUTH: 0x60,
  /** After OPEN: what this Ksock is, for monitors (a JSON object, docs/protocol.md). */
  DESCRIBE: 0x61,
  /** Daemon to client, tag 0: u32 ready mask. */
  EVENT: 0x80,
  /** Daemon to client, tag 0: one whole entire message (STREAM). */
  MESSAGE: 0x81,
} as const;

export type OpName = keyof typeof Op;

const opNames = new Map<number, OpName>(
  (Object.entries(Op) as [OpName, number][]).map(([name, op]) => [op, name]),
);

/** The name of an op number, or undefined for an unknown op. */
export function opName(op: number): OpName | undefined {
  return opNames.get(op);
}

export const PROTOCOL_VERSION = 1;
/** Bytes before the payload: length, op, tag. */
export const FRAME_HEADER_LENGTH = 12;
/** The smallest valid `length` field: op and tag. */
export const MIN_FRAME_LENGTH = 8;
/** The value "ask only" in MSGONLYONCE, VERBOSE and REPORTREPLIERBINDS. */
export const QUERY = 0xffffffff;

/** One frame as decoded. `payload` is only valid until the callback returns unless copied. */
export interface Frame {
  readonly op: number;
  readonly tag: number;
  readonly payload: Uint8Array;
  /** True if the frame was longer than the limit: its payload was skipped and is empty. */
  readonly tooLong: boolean;
}

/** The codes of FrameError. */
export const FrameErrorCode = {
  /** A `length` field under 8: no frame can be that short. */
  LENGTH: 'KBUS_FRAME_LENGTH',
} as const;
export type FrameErrorCode = (typeof FrameErrorCode)[keyof typeof FrameErrorCode];

/** A frame whose length cannot be a frame: the connection must be closed. */
export class FrameError extends Error {
  readonly code: FrameErrorCode = FrameErrorCode.LENGTH;

  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

/** FrameDecoder.pushFields's callback: one frame's fields (see Frame). */
export type FrameFieldsHandler = (
  op: number,
  tag: number,
  payload: Uint8Array,
  tooLong: boolean,
) => void;

export class FrameDecoder {
  private readonly header = new Uint8Array(FRAME_HEADER_LENGTH);
  private headerFilled = 0;
  private body: Uint8Array | undefined;
  private bodyFilled = 0;
  private op = 0;
  private tag = 0;
  private skipping = 0;

  /** `maxLength` is the largest `length` field accepted (8 + payload); it may be changed between pushes. */
  constructor(public maxLength: number) {}

  /** True while part of a frame has arrived and the rest has not. */
  get partial(): boolean {
    return this.headerFilled > 0 || this.body !== undefined || this.skipping > 0;
  }

  /**
   * Feeds bytes; calls `onFrame` for each complete frame, in order.
   * Throws FrameError for a length under 8.
   */
  push(chunk: Uint8Array, onFrame: (frame: Frame) => void): void {
    this.pushFields(chunk, (op, tag, payload, tooLong) => onFrame({ op, tag, payload, tooLong }));
  }

  /**
   * push() with each frame's fields as arguments: no object per frame, for
   * a reader that handles most frames at once (the daemon).
   */
  pushFields(chunk: Uint8Array, onFrame: FrameFieldsHandler): void {
    let at = 0;
    const end = chunk.length;
    while (at < end) {
      if (this.skipping > 0) {
        const n = Math.min(this.skipping, end - at);
        this.skipping -= n;
        at += n;
        continue;
      }
      if (this.body !== undefined) {
        const n = Math.min(this.body.length - this.bodyFilled, end - at);
        this.body.set(chunk.subarray(at, at + n), this.bodyFilled);
        this.bodyFilled += n;
        at += n;
        if (this.bodyFilled === this.body.length) {
          const payload = this.body;
          this.body = undefined;
          this.bodyFilled = 0;
          onFrame(this.op, this.tag, payload, false);
        }
        continue;
      }
      // Fast path: a whole frame inside this chunk, with no partial header held.
      if (this.headerFilled === 0 && end - at >= 4) {
        const length = readU32LE(chunk, at);
        this.checkLength(length);
        if (length <= this.maxLength && end - at >= 4 + length) {
          onFrame(
            readU32LE(chunk, at + 4),
            readU32LE(chunk, at + 8),
            // A plain view: cheaper to make than a Buffer's subarray.
            new Uint8Array(chunk.buffer, chunk.byteOffset + at + FRAME_HEADER_LENGTH, length - 8),
            false,
          );
          at += 4 + length;
          continue;
        }
      }
      const n = Math.min(FRAME_HEADER_LENGTH - this.headerFilled, end - at);
      this.header.set(chunk.subarray(at, at + n), this.headerFilled);
      this.headerFilled += n;
      at += n;
      if (this.headerFilled >= 4) this.checkLength(readU32LE(this.header, 0));
      if (this.headerFilled < FRAME_HEADER_LENGTH) continue;
      this.headerFilled = 0;
      const length = readU32LE(this.header, 0);
      this.op = readU32LE(this.header, 4);
      this.tag = readU32LE(this.header, 8);
      const payloadLength = length - MIN_FRAME_LENGTH;
      if (length > this.maxLength) {
        this.skipping = payloadLength;
        onFrame(this.op, this.tag, EMPTY, true);
      } else if (payloadLength === 0) {
        onFrame(this.op, this.tag, EMPTY, false);
      } else {
        // Every byte is written before the frame is handed on: no zeroing.
        this.body = allocate(payloadLength);
        this.bodyFilled = 0;
      }
    }
  }

  private checkLength(length: number): void {
    if (length < MIN_FRAME_LENGTH) {
      throw new FrameError(`frame length ${length} is under ${MIN_FRAME_LENGTH}`);
    }
  }
}

const EMPTY = new Uint8Array(0);

/**
 * Writes a frame header (length, op, tag) at `at` and returns the offset of
 * the payload. `payloadLength` is the payload's length in bytes.
 */
export function writeFrameHeader(
  target: Uint8Array,
  at: number,
  payloadLength: number,
  op: number,
  tag: number,
): number {
  writeU32LE(target, at, MIN_FRAME_LENGTH + payloadLength);
  writeU32LE(target, at + 4, op);
  writeU32LE(target, at + 8, tag);
  return at + FRAME_HEADER_LENGTH;
}

/** Builds a whole frame whose payload is the given u32 words then `tail` bytes. */
export function encodeFrame(
  op: number,
  tag: number,
  words: readonly number[],
  tail?: Uint8Array,
): Uint8Array {
  const payloadLength = 4 * words.length + (tail?.length ?? 0);
  const out = new Uint8Array(FRAME_HEADER_LENGTH + payloadLength);
  let at = writeFrameHeader(out, 0, payloadLength, op, tag);
  for (const word of words) {
    writeU32LE(out, at, word >>> 0);
    at += 4;
  }
  if (tail) out.set(tail, at);
  return out;
}
