/**
 * Queue entries: one recipient's copy of a message, as it waits in a
 * Ksock's queue, and how that copy reads.
 */
import {
  decodeWhole,
  encodeMessage,
  entireMessageLength,
  type Message,
  writeU32LE,
} from '../wire/index.js';
import type { Ksock } from './ksock.js';
import type { Binding } from './router.js';

/**
 * A message in a queue: one recipient's copy of a shared message. A
 * message that arrived whole (SENDMSG) is held as its bytes alone, with
 * KBUS's changes already written in, and decoded again only if read as an
 * object: a long queue then costs two small objects per message rather
 * than four, which is far less for the garbage collector to copy and mark.
 */
export class QueuedMessage {
  private readonly source: Message | Uint8Array;

  constructor(
    message: Message,
    /** This copy's flags (WANT_YOU_TO_REPLY differs between copies). */
    readonly flags: number,
    /** The binding that brought it here (null for replies and status messages). */
    readonly binding: Binding<Ksock> | null,
  ) {
    this.source = (message as { encoded?: Uint8Array }).encoded ?? message;
  }

  get message(): Message {
    const source = this.source;
    return source instanceof Uint8Array
      ? decodeWhole(source, Number.MAX_SAFE_INTEGER, undefined)
      : source;
  }

  /** The entire message as bytes (its own flags in them, not this copy's), if it came so. */
  get encoded(): Uint8Array | undefined {
    const source = this.source;
    return source instanceof Uint8Array ? source : undefined;
  }

  /** The length of the entire message. */
  get length(): number {
    const source = this.source;
    return source instanceof Uint8Array
      ? source.length
      : entireMessageLength(source.name.length, source.data.length);
  }
}

/** The entire message as this copy's recipient reads it (a copy: READ hands out pieces of it). */
export function bytesFor(item: QueuedMessage): Uint8Array {
  const encoded = item.encoded;
  if (encoded === undefined) return encodeMessage(item.message, true, undefined, 0, item.flags);
  const bytes = encoded.slice();
  writeU32LE(bytes, 48, item.flags);
  return bytes;
}

/** The message as this copy's recipient sees it. */
export function copyFor(item: QueuedMessage): Message {
  const m = item.message;
  // `data` may be a getter (decodeWhole's messages), which a spread would not copy.
  return item.flags === m.flags ? m : { ...m, data: m.data, flags: item.flags };
}
