/**
 * A message kept as the bytes of its entire form (protocol.md "Messages on
 * the wire"), with its header fields read out once. The daemon's speed
 * comes from this: a message sent whole is checked once and then kept, and
 * delivered, as the bytes that arrived, never decoded and encoded again.
 */
import { HeaderOffset as At, END_GUARD, Flags } from './constants.js';
import { KbusError } from './errno.js';
import {
  addressFromWords,
  checkHeader,
  decodeName,
  encodeMessage,
  entireMessageLength,
  idFromWords,
  type Message,
  type MessageId,
  type NetworkAddress,
  paddedNameLength,
} from './message.js';
import type { NameCache } from './name-cache.js';
import { sendNameError } from './names.js';
import type { BytePool } from './pool.js';
import { readU32LE, writeU32LE } from './u32.js';

/**
 * Anything that can write itself as one entire message (little-endian):
 * what the frame writer takes, so that it needs to know nothing of where
 * the message is kept.
 */
export interface EntireMessage {
  /** The length in bytes of the entire message. */
  readonly length: number;
  /** Writes the entire message at `at` (there is room). */
  writeTo(target: Uint8Array, at: number): void;
}

const NO_DATA = new Uint8Array(0);

/**
 * A checked message and its entire bytes. Its data is a view of the bytes,
 * made only when asked for: delivering the message copies the bytes whole
 * and never needs one. The fields KBUS changes on sending (Kbus.txt "Things
 * KBUS changes in a message") change only through stamp(), which writes
 * them into the bytes too.
 */
export class EncodedMessage implements Message, EntireMessage {
  private view: Uint8Array | undefined;
  private id_: MessageId;
  private from_: number;
  private extra_: number;
  private flags_: number;

  /** Use decodeWhole() or EncodedMessage.encode(). */
  private constructor(
    /** The entire message, little-endian. */
    readonly bytes: Uint8Array,
    readonly name: string,
  ) {
    // Only the fields stamp() changes are held; the rest are read from the
    // bytes when asked for (most are never asked for on the way through).
    const b = bytes;
    this.id_ = idFromWords(readU32LE(b, At.ID_NETWORK), readU32LE(b, At.ID_SERIAL));
    this.from_ = readU32LE(b, At.FROM);
    this.extra_ = readU32LE(b, At.EXTRA);
    this.flags_ = readU32LE(b, At.FLAGS);
  }

  get inReplyTo(): MessageId {
    const b = this.bytes;
    return idFromWords(readU32LE(b, At.IN_REPLY_TO_NETWORK), readU32LE(b, At.IN_REPLY_TO_SERIAL));
  }
  get to(): number {
    return readU32LE(this.bytes, At.TO);
  }
  get origFrom(): NetworkAddress {
    const b = this.bytes;
    return addressFromWords(readU32LE(b, At.ORIG_FROM_NETWORK), readU32LE(b, At.ORIG_FROM_LOCAL));
  }
  get finalTo(): NetworkAddress {
    const b = this.bytes;
    return addressFromWords(readU32LE(b, At.FINAL_TO_NETWORK), readU32LE(b, At.FINAL_TO_LOCAL));
  }

  /** Wraps bytes already checked (decodeWhole, or encodeMessage's output). */
  static ofChecked(bytes: Uint8Array, name: string): EncodedMessage {
    return new EncodedMessage(bytes, name);
  }

  /** Encodes `message` (already checked) into memory from `pool`, or its own. */
  static encode(message: Message, pool?: BytePool): EncodedMessage {
    const length = entireMessageLength(message.name.length, message.data.length);
    const target = pool === undefined ? new Uint8Array(length) : pool.allocate(length);
    return new EncodedMessage(encodeMessage(message, true, target), message.name);
  }

  get id(): MessageId {
    return this.id_;
  }
  get from(): number {
    return this.from_;
  }
  get extra(): number {
    return this.extra_;
  }
  get flags(): number {
    return this.flags_;
  }
  get data(): Uint8Array {
    if (this.view === undefined) {
      const b = this.bytes;
      const dataLength = readU32LE(b, At.DATA_LENGTH);
      const dataAt = At.NAME + paddedNameLength(this.name.length);
      this.view =
        dataLength === 0 ? NO_DATA : new Uint8Array(b.buffer, b.byteOffset + dataAt, dataLength);
    }
    return this.view;
  }

  get length(): number {
    return this.bytes.length;
  }

  writeTo(target: Uint8Array, at: number): void {
    target.set(this.bytes, at);
  }

  /**
   * Kbus.txt "Things KBUS changes in a message": the id (when the sender
   * left its network id 0), `from`, `extra` cleared, and SYNTHETIC cleared,
   * in the fields and in the bytes alike.
   */
  stamp(id: MessageId, from: number): void {
    const b = this.bytes;
    const flags = (this.flags_ & ~Flags.SYNTHETIC) >>> 0;
    this.id_ = id;
    this.from_ = from;
    this.extra_ = 0;
    this.flags_ = flags;
    writeU32LE(b, At.ID_NETWORK, id.networkId);
    writeU32LE(b, At.ID_SERIAL, id.serialNum);
    writeU32LE(b, At.FROM, from);
    writeU32LE(b, At.EXTRA, 0);
    writeU32LE(b, At.FLAGS, flags);
  }
}

/**
 * What WRITE of `bytes` then SEND would check, in one step and with the
 * same errors in the same order, for a message given whole (SENDMSG): a
 * short message is EINVAL (unfinished), then the header, the name, the
 * final guard, and bytes past the end (EMSGSIZE). The bytes are copied once
 * into `pool` (padding zeroed); with no pool, `bytes` themselves are kept
 * and changed (the caller gives them away). `names` remembers the sender's
 * last valid name, so that sending it again makes no new string.
 * Little-endian only.
 */
export function decodeWhole(
  bytes: Uint8Array,
  maxLength: number,
  pool: BytePool | undefined,
  names?: NameCache,
): EncodedMessage {
  const length = bytes.length;
  if (length === 0) throw new KbusError('ENOMSG', 'nothing has been written to send');
  if (length < At.NAME) throw new KbusError('EINVAL', 'the message written is not finished');
  checkHeader(bytes, 0, true, maxLength);
  const nameLength = readU32LE(bytes, At.NAME_LENGTH);
  const dataLength = readU32LE(bytes, At.DATA_LENGTH);
  const nameEnd = At.NAME + nameLength;
  const total = entireMessageLength(nameLength, dataLength);
  if (length < nameEnd) throw new KbusError('EINVAL', 'the message written is not finished');
  let name = names?.match(bytes, At.NAME, nameLength);
  if (name === undefined) {
    name = decodeName(bytes, At.NAME, nameLength);
    const nameError = sendNameError(name);
    if (nameError) {
      throw new KbusError(
        nameError === 'EINVAL' ? 'EBADMSG' : nameError,
        `bad message name '${name}'`,
      );
    }
    names?.remember(bytes, At.NAME, name);
  }
  if (length < total) throw new KbusError('EINVAL', 'the message written is not finished');
  if (readU32LE(bytes, total - 4) !== END_GUARD) {
    throw new KbusError('EINVAL', '(entire) message end guard is wrong');
  }
  if (length > total) {
    throw new KbusError(
      'EMSGSIZE',
      `${length - total} bytes written after the end guard of a message: did you forget to SEND?`,
    );
  }
  let kept = bytes;
  if (pool !== undefined) {
    kept = pool.allocate(total);
    kept.set(bytes);
  }
  const dataAt = At.NAME + paddedNameLength(nameLength);
  for (let i = nameEnd; i < dataAt; i++) kept[i] = 0;
  for (let i = dataAt + dataLength; i < total - 4; i++) kept[i] = 0;
  return EncodedMessage.ofChecked(kept, name);
}

/**
 * A message given as an object and checked for sending (validateMessage):
 * a fresh object nobody else holds, so KBUS may stamp it in place.
 */
export class SendingMessage implements Message {
  constructor(
    public id: MessageId,
    readonly inReplyTo: MessageId,
    readonly to: number,
    public from: number,
    readonly origFrom: NetworkAddress,
    readonly finalTo: NetworkAddress,
    public extra: number,
    public flags: number,
    readonly name: string,
    readonly data: Uint8Array,
  ) {}

  /** As EncodedMessage.stamp, for a message that has no bytes. */
  stamp(id: MessageId, from: number): void {
    this.id = id;
    this.from = from;
    this.extra = 0;
    this.flags = (this.flags & ~Flags.SYNTHETIC) >>> 0;
  }
}

/**
 * The one way KBUS stamps a message it sends (Kbus.txt "Things KBUS changes
 * in a message"): the id, `from`, `extra` cleared and SYNTHETIC cleared. A
 * message made for sending (EncodedMessage, SendingMessage) is changed in
 * place, bytes included; any other message is copied with the changes.
 */
export function stamp(message: Message, id: MessageId, from: number): Message {
  if (message instanceof EncodedMessage || message instanceof SendingMessage) {
    message.stamp(id, from);
    return message;
  }
  return { ...message, id, from, extra: 0, flags: (message.flags & ~Flags.SYNTHETIC) >>> 0 };
}
