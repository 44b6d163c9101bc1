/**
 * Typed messages for client code: Announcement, Request, Reply and Status
 * (Kbus.txt "Types of message"), each carrying the seed's fields, and
 * helpers for text and JSON data.
 */
import {
  HeaderOffset as At,
  addressFromWords,
  checkHeader,
  decodeName,
  decodeReplierBindEvent,
  END_GUARD,
  entireMessageLength,
  Flags,
  idFromWords,
  KbusError,
  type Message,
  type MessageId,
  type MessageInit,
  MessageNames,
  type NameCache,
  type NetworkAddress,
  NO_ADDRESS,
  NO_ID,
  paddedNameLength,
  type ReplierBindEvent,
  readU32LE,
} from '../wire/index.js';

/**
 * Message data as a client may give it: a string (sent as UTF-8), or bytes
 * in any unambiguous form: a Uint8Array (a Node Buffer is one), any other
 * typed array or a DataView (its bytes as they lie in memory), an
 * ArrayBuffer. Anything else is refused: send JSON with `jsonData(value)`.
 */
export type Data = string | Uint8Array | ArrayBufferView | ArrayBuffer;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What a value is, for a TypeError: 'a number', 'a plain object', 'null'. */
export function describeValue(data: unknown): string {
  if (data === null || data === undefined) return String(data);
  if (Array.isArray(data)) return 'an array';
  if (typeof data === 'object') {
    const kind = data.constructor?.name;
    return kind === undefined || kind === 'Object' ? 'a plain object' : `a ${kind}`;
  }
  return `a ${typeof data}`;
}

/** Bytes of `data` (a string becomes UTF-8); a TypeError for what is neither text nor bytes. */
export function toBytes(data: Data | undefined): Uint8Array | undefined {
  if (data === undefined || data instanceof Uint8Array) return data;
  if (typeof data === 'string') return encoder.encode(data);
  if (ArrayBuffer.isView(data))
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (
    data instanceof ArrayBuffer ||
    (typeof SharedArrayBuffer === 'function' && (data as unknown) instanceof SharedArrayBuffer)
  ) {
    return new Uint8Array(data);
  }
  throw new TypeError(
    `message data must be a string or bytes (Uint8Array, Buffer, ArrayBuffer, a typed array or DataView), not ${describeValue(data)}: to send a value as JSON, give jsonData(value)`,
  );
}

/** JSON text of `value` as UTF-8 bytes, for a message's data. */
export function jsonData(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export type MessageKind = 'announcement' | 'request' | 'reply' | 'status';

/** A message as received, with its kind and data helpers. */
export abstract class KbusMessage implements Message {
  abstract readonly kind: MessageKind;
  readonly id: MessageId;
  readonly inReplyTo: MessageId;
  readonly to: number;
  readonly from: number;
  readonly origFrom: NetworkAddress;
  readonly finalTo: NetworkAddress;
  readonly extra: number;
  readonly flags: number;
  readonly name: string;
  readonly data: Uint8Array;

  /** The header fields come from `message`; `name` and `data` may be given apart. */
  constructor(
    message: Omit<Message, 'name' | 'data'> & Partial<Message>,
    name?: string,
    data?: Uint8Array,
  ) {
    this.id = message.id;
    this.inReplyTo = message.inReplyTo;
    this.to = message.to;
    this.from = message.from;
    this.origFrom = message.origFrom;
    this.finalTo = message.finalTo;
    this.extra = message.extra;
    this.flags = message.flags;
    this.name = name ?? message.name!;
    this.data = data ?? message.data!;
  }

  /** WANT_YOU_TO_REPLY: this copy is the one this Ksock must answer. */
  get wantsYouToReply(): boolean {
    return (this.flags & Flags.WANT_YOU_TO_REPLY) !== 0;
  }

  get isUrgent(): boolean {
    return (this.flags & Flags.URGENT) !== 0;
  }

  get isSynthetic(): boolean {
    return (this.flags & Flags.SYNTHETIC) !== 0;
  }

  /** The data as UTF-8 text. */
  text(): string {
    return decoder.decode(this.data);
  }

  /** The data parsed as JSON. */
  json<T = unknown>(): T {
    return JSON.parse(this.text()) as T;
  }
}

/** A message for any listener, expecting no reply. */
export class Announcement extends KbusMessage {
  readonly kind = 'announcement';
}

/** A message wanting a reply (WANT_A_REPLY). */
export class Request extends KbusMessage {
  readonly kind = 'request';
}

/** A reply to a request (`inReplyTo` set). */
export class Reply extends KbusMessage {
  readonly kind = 'reply';
}

/** A message KBUS generated: `$.KBUS.*`, SYNTHETIC. */
export class Status extends KbusMessage {
  readonly kind = 'status';

  /** The data of a `$.KBUS.ReplierBindEvent`, decoded (undefined for other status messages). */
  get replierBindEvent(): ReplierBindEvent | undefined {
    return this.name === MessageNames.REPLIER_BIND_EVENT
      ? decodeReplierBindEvent(this.data)
      : undefined;
  }
}

/** Wraps a received message in the class of its kind. */
export function classify(message: Message): KbusMessage {
  return classifyParts(message, message.name, message.data);
}

function classifyParts(
  header: Omit<Message, 'name' | 'data'>,
  name: string,
  data: Uint8Array,
): KbusMessage {
  if (header.flags & Flags.SYNTHETIC || name.startsWith('$.KBUS.'))
    return new Status(header, name, data);
  if (header.inReplyTo.networkId !== 0 || header.inReplyTo.serialNum !== 0) {
    return new Reply(header, name, data);
  }
  if (header.flags & Flags.WANT_A_REPLY) return new Request(header, name, data);
  return new Announcement(header, name, data);
}

/**
 * The header fields of the message being decoded. Reused for every
 * message (a message copies its fields out at once), so that receiving
 * makes no header object.
 */
const scratch: Mutable<Omit<Message, 'name' | 'data'>> = {
  id: NO_ID,
  inReplyTo: NO_ID,
  to: 0,
  from: 0,
  origFrom: NO_ADDRESS,
  finalTo: NO_ADDRESS,
  extra: 0,
  flags: 0,
};

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function idAt(b: Uint8Array, at: number): MessageId {
  return idFromWords(readU32LE(b, at), readU32LE(b, at + 4));
}

function addressAt(b: Uint8Array, at: number): NetworkAddress {
  return addressFromWords(readU32LE(b, at), readU32LE(b, at + 4));
}

/**
 * Checks that `bytes` hold one entire message (little-endian, as the
 * daemon sends it), throwing the KbusError that fits if not: the header's
 * one check, the length, and the final end guard. A message that passes
 * decodes without error.
 */
export function checkReceived(bytes: Uint8Array): void {
  checkHeader(bytes, 0, true);
  const total = entireMessageLength(
    readU32LE(bytes, At.NAME_LENGTH),
    readU32LE(bytes, At.DATA_LENGTH),
  );
  if (bytes.length !== total) {
    throw new KbusError('EINVAL', `message of ${bytes.length} bytes, expected ${total}`);
  }
  if (readU32LE(bytes, total - 4) !== END_GUARD) {
    throw new KbusError('EINVAL', '(entire) message end guard is wrong');
  }
}

/** The `in_reply_to` of an entire message already checked. */
export function receivedInReplyTo(bytes: Uint8Array): MessageId {
  return idAt(bytes, At.IN_REPLY_TO_NETWORK);
}

/**
 * Decodes an entire message (little-endian, as the daemon sends it) straight
 * into its class. The data is a view of `bytes`. `names` (one per
 * connection) spares making the same name string again and again.
 */
export function decodeReceived(bytes: Uint8Array, names?: NameCache): KbusMessage {
  checkReceived(bytes);
  return decodeChecked(bytes, names);
}

/** decodeReceived of bytes that checkReceived has passed. */
export function decodeChecked(bytes: Uint8Array, names?: NameCache): KbusMessage {
  const nameLength = readU32LE(bytes, At.NAME_LENGTH);
  const dataLength = readU32LE(bytes, At.DATA_LENGTH);
  const dataAt = At.NAME + paddedNameLength(nameLength);
  const name = names
    ? names.read(bytes, At.NAME, nameLength)
    : decodeName(bytes, At.NAME, nameLength);
  const data =
    dataLength === 0
      ? new Uint8Array(0)
      : new Uint8Array(bytes.buffer, bytes.byteOffset + dataAt, dataLength);
  const h = scratch;
  h.id = idAt(bytes, At.ID_NETWORK);
  h.inReplyTo = idAt(bytes, At.IN_REPLY_TO_NETWORK);
  h.to = readU32LE(bytes, At.TO);
  h.from = readU32LE(bytes, At.FROM);
  h.origFrom = addressAt(bytes, At.ORIG_FROM_NETWORK);
  h.finalTo = addressAt(bytes, At.FINAL_TO_NETWORK);
  h.extra = readU32LE(bytes, At.EXTRA);
  h.flags = readU32LE(bytes, At.FLAGS);
  return classifyParts(h, name, data);
}

/** A message to send: the seed's fields, with data as bytes or text. */
export interface Outgoing extends Omit<MessageInit, 'data'> {
  data?: Data;
}

/**
 * A TypeError unless `name` is a string: anything else would be sent as a
 * frame whose length is not a number (the daemon checks what the name
 * says, not what it is).
 */
export function checkName(name: unknown, call: string): void {
  if (typeof name === 'string') return;
  throw new TypeError(
    `${call}: a message name is a string such as '$.Sensors.Kitchen', not ${describeValue(name)}`,
  );
}

/** A TypeError unless `options` is an object or left out. */
export function checkOptionsObject(options: unknown, call: string): void {
  if (options === undefined || (typeof options === 'object' && options !== null)) return;
  throw new TypeError(`${call}: options are an object, not ${describeValue(options)}`);
}

/** What send() and post() send: a TypeError for what is not a message, a name or data of the wrong type. */
export function toMessageInit(message: Outgoing | Message, call = 'send()'): MessageInit {
  if (typeof message !== 'object' || message === null) {
    throw new TypeError(
      `${call} takes a message such as { name: '$.Sensors.Kitchen', data: '21C' }, not ${describeValue(message)}: to send by name, use announce(name, data)`,
    );
  }
  checkName(message.name, call);
  const data = toBytes(message.data as Data | undefined);
  return data === message.data ? (message as MessageInit) : { ...message, data };
}
