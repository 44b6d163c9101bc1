/**
 * Queue entries: one recipient's copy of a message, as it waits in a
 * Ksock's queue, and how that copy reads.
 */
import {
  decodeMessage,
  EncodedMessage,
  type EntireMessage,
  encodeMessage,
  entireMessageLength,
  Flags,
  HeaderOffset,
  type Message,
  writeU32LE,
} from '../wire/index.js';
import type { Binding } from './router.js';

/**
 * A message in a queue: one recipient's copy of a shared message. A
 * message kept as bytes (an EncodedMessage: it arrived whole, by SENDMSG)
 * is held as its bytes alone, with KBUS's changes already written in, and
 * decoded again only if read as an object: a long queue then costs two
 * small objects per message rather than four, which is far less for the
 * garbage collector to copy and mark.
 */
export class QueuedMessage<K = unknown> implements EntireMessage {
  private source: Message | Uint8Array;
  /** The length of the entire message (what the queues' byte budgets count). */
  readonly length: number;
  /** Looked at by a compaction already (see compact()). */
  private settled = false;

  constructor(
    message: Message,
    /** This copy's flags (WANT_YOU_TO_REPLY differs between copies). */
    readonly flags: number,
    /** The binding that brought it here (null for replies and status messages). */
    readonly binding: Binding<K> | null,
  ) {
    this.source = sourceOf(message);
    this.length = lengthOf(this.source);
  }

  /** True once compact() has looked at this entry: it need not look again. */
  get compacted(): boolean {
    return this.settled;
  }

  /**
   * Makes the message's bytes its own if they are a small part of a larger
   * buffer (a socket read holding many frames, which a message kept as a
   * view would keep alive whole). `copies` maps the bytes already copied in
   * this compaction to their copy, so that the copies of one message stay
   * one. Returns true if it copied.
   */
  compact(copies: Map<Uint8Array, Uint8Array>): boolean {
    this.settled = true;
    const source = this.source;
    if (!(source instanceof Uint8Array) || source.buffer.byteLength <= 2 * source.byteLength) {
      return false;
    }
    let own = copies.get(source);
    if (own === undefined) {
      own = Uint8Array.prototype.slice.call(source);
      copies.set(source, own);
    }
    this.source = own;
    return true;
  }

  /** This copy is a Request its recipient must answer (Kbus.txt: only the replier's copy says so). */
  get toAnswer(): boolean {
    return (this.flags & Flags.WANT_YOU_TO_REPLY) !== 0;
  }

  /** The shared message (its own flags, not this copy's). */
  get message(): Message {
    const source = this.source;
    return source instanceof Uint8Array ? decodeMessage(source, { shareData: true }) : source;
  }

  /** The bytes of the shared message (its own flags), if it is kept as bytes: what it holds in memory. */
  get encoded(): Uint8Array | undefined {
    const source = this.source;
    return source instanceof Uint8Array ? source : undefined;
  }

  /** The entire message as this copy's recipient reads it, with this copy's flags. */
  writeTo(target: Uint8Array, at: number): void {
    writeCopy(this.source, this.flags, target, at);
  }

  /** The entire message as bytes of its own (READ hands out pieces of it). */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    this.writeTo(out, 0);
    return out;
  }

  /** The message as this copy's recipient sees it: a plain object, with this copy's flags. */
  copy(): Message {
    const source = this.source;
    if (source instanceof Uint8Array) {
      const m = decodeMessage(source, { shareData: true });
      return m.flags === this.flags ? m : { ...m, flags: this.flags };
    }
    return {
      id: source.id,
      inReplyTo: source.inReplyTo,
      to: source.to,
      from: source.from,
      origFrom: source.origFrom,
      finalTo: source.finalTo,
      extra: source.extra,
      flags: this.flags,
      name: source.name,
      data: source.data,
    };
  }
}

/** What a copy keeps of `message`: its bytes if it is kept as bytes, else the message. */
function sourceOf(message: Message): Message | Uint8Array {
  return message instanceof EncodedMessage ? message.bytes : message;
}

/** The length of the entire message `source` is. */
function lengthOf(source: Message | Uint8Array): number {
  return source instanceof Uint8Array
    ? source.length
    : entireMessageLength(source.name.length, source.data.length);
}

/** A recipient's copy of `source` (a message, or its bytes) written whole, with `flags`. */
function writeCopy(source: Message | Uint8Array, flags: number, target: Uint8Array, at: number) {
  if (source instanceof Uint8Array) {
    target.set(source, at);
    writeU32LE(target, at + HeaderOffset.FLAGS, flags);
  } else {
    encodeMessage(source, true, target, at, flags);
  }
}

/**
 * A recipient's copy of a message handed over the moment it is sent, never
 * queued (EngineKsock.takeNow): what a QueuedMessage would write, without
 * one. Its owner keeps one and sets it for each message it takes.
 */
export class MessageCopy implements EntireMessage {
  private source: Message | Uint8Array = new Uint8Array(0);
  private flags = 0;
  length = 0;

  set(message: Message, flags: number): this {
    this.source = sourceOf(message);
    this.length = lengthOf(this.source);
    this.flags = flags;
    return this;
  }

  writeTo(target: Uint8Array, at: number): void {
    writeCopy(this.source, this.flags, target, at);
  }
}
