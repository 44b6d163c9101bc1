/**
 * The "entire" message layout (Kbus.txt "Message implementation"), as it
 * crosses a socket: sixteen 32-bit words, the name with a NUL and zero
 * padding to a multiple of 4, the data padded to a multiple of 4 (if any),
 * and a final end guard. Words are little-endian on the daemon's socket and
 * in network order (big-endian) on a Limpet link.
 */

import {
  HeaderOffset as At,
  END_GUARD,
  Flags,
  HEADER_LENGTH,
  MAX_NAME_LENGTH,
  START_GUARD,
} from './constants.js';
import { KbusError } from './errno.js';
import { decodeLatin1, writeLatin1 } from './latin1.js';
import type { NameCache } from './name-cache.js';
import { readU32LE, writeU32LE } from './u32.js';

/** A message id: `{network_id, serial_num}`, written `{n,s}` in text. */
export interface MessageId {
  readonly networkId: number;
  readonly serialNum: number;
}

/** `orig_from` / `final_to`: a Ksock on some network, for Limpets. */
export interface NetworkAddress {
  readonly networkId: number;
  readonly localId: number;
}

/** One KBUS message, with the fields of the seed's header. */
export interface Message {
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
}

/** What a sender fills in; everything but the name is optional. */
export interface MessageInit {
  id?: MessageId;
  inReplyTo?: MessageId;
  to?: number;
  from?: number;
  origFrom?: NetworkAddress;
  finalTo?: NetworkAddress;
  extra?: number;
  flags?: number;
  name: string;
  data?: Uint8Array;
}

/** `{0,0}`: the unset / invalid message id. */
export const NO_ID: MessageId = Object.freeze({ networkId: 0, serialNum: 0 });
/** The unset network address. */
export const NO_ADDRESS: NetworkAddress = Object.freeze({ networkId: 0, localId: 0 });
const NO_DATA = new Uint8Array(0);

/** Fills in the unset fields of `init` with zeros. */
export function makeMessage(init: MessageInit): Message {
  return {
    id: init.id ?? NO_ID,
    inReplyTo: init.inReplyTo ?? NO_ID,
    to: init.to ?? 0,
    from: init.from ?? 0,
    origFrom: init.origFrom ?? NO_ADDRESS,
    finalTo: init.finalTo ?? NO_ADDRESS,
    extra: init.extra ?? 0,
    flags: init.flags ?? 0,
    name: init.name,
    data: init.data ?? NO_DATA,
  };
}

export function isSameId(a: MessageId, b: MessageId): boolean {
  return a.networkId === b.networkId && a.serialNum === b.serialNum;
}

/** A map key for a message id: the serial number alone for local ids (the common case). */
export function idKey(id: MessageId): string | number {
  return id.networkId === 0 ? id.serialNum : `${id.networkId}:${id.serialNum}`;
}

export function isUnsetId(id: MessageId): boolean {
  return id.networkId === 0 && id.serialNum === 0;
}

/** `{n,s}`, as Kbus.txt writes message ids. */
export function formatId(id: MessageId): string {
  return `{${id.networkId},${id.serialNum}}`;
}

/** A Reply (Status messages included) is any message with `in_reply_to` set. */
export function isReply(msg: Message): boolean {
  return msg.inReplyTo.networkId !== 0 || msg.inReplyTo.serialNum !== 0;
}

export function isRequest(msg: Message): boolean {
  return (msg.flags & Flags.WANT_A_REPLY) !== 0;
}

/** KBUS_PADDED_NAME_LEN: the name, its NUL, and zero padding to a multiple of 4. */
export function paddedNameLength(nameLength: number): number {
  return 4 * Math.floor((nameLength + 1 + 3) / 4);
}

/** KBUS_PADDED_DATA_LEN: the data padded to a multiple of 4 (0 for no data). */
export function paddedDataLength(dataLength: number): number {
  return 4 * Math.floor((dataLength + 3) / 4);
}

/** KBUS_ENTIRE_MSG_LEN: the length in bytes of an entire message. */
export function entireMessageLength(nameLength: number, dataLength: number): number {
  return HEADER_LENGTH + paddedNameLength(nameLength) + paddedDataLength(dataLength) + 4;
}

/** The length of `msg` encoded. */
export function encodedLength(msg: Message | MessageInit): number {
  return entireMessageLength(msg.name.length, msg.data?.length ?? 0);
}

/**
 * Writes `msg` as an entire message into `target` at `offset` (or a new
 * array) and returns the target. `flags` overrides the message's flags,
 * which lets one shared message be written for recipients whose copies
 * differ only there.
 */
export function encodeMessage(
  msg: Message | MessageInit,
  littleEndian = true,
  target?: Uint8Array,
  offset = 0,
  flags = msg.flags ?? 0,
): Uint8Array {
  const name = msg.name;
  const data = msg.data ?? NO_DATA;
  const nameLength = name.length;
  const dataLength = data.length;
  const length = entireMessageLength(nameLength, dataLength);
  const out = target ?? new Uint8Array(length);
  if (out.length - offset < length) {
    throw new KbusError('EMSGSIZE', `need ${length} bytes to encode the message`);
  }
  const put = littleEndian ? writeU32LE : writeU32BE;
  const o = offset;
  const id = msg.id ?? NO_ID;
  const inReplyTo = msg.inReplyTo ?? NO_ID;
  const origFrom = msg.origFrom ?? NO_ADDRESS;
  const finalTo = msg.finalTo ?? NO_ADDRESS;
  put(out, o + At.START_GUARD, START_GUARD);
  put(out, o + At.ID_NETWORK, id.networkId);
  put(out, o + At.ID_SERIAL, id.serialNum);
  put(out, o + At.IN_REPLY_TO_NETWORK, inReplyTo.networkId);
  put(out, o + At.IN_REPLY_TO_SERIAL, inReplyTo.serialNum);
  put(out, o + At.TO, msg.to ?? 0);
  put(out, o + At.FROM, msg.from ?? 0);
  put(out, o + At.ORIG_FROM_NETWORK, origFrom.networkId);
  put(out, o + At.ORIG_FROM_LOCAL, origFrom.localId);
  put(out, o + At.FINAL_TO_NETWORK, finalTo.networkId);
  put(out, o + At.FINAL_TO_LOCAL, finalTo.localId);
  put(out, o + At.EXTRA, msg.extra ?? 0);
  put(out, o + At.FLAGS, flags);
  put(out, o + At.NAME_LENGTH, nameLength);
  put(out, o + At.DATA_LENGTH, dataLength);
  put(out, o + At.END_GUARD, END_GUARD);
  let pos = o + HEADER_LENGTH;
  writeLatin1(out, pos, name);
  const nameEnd = pos + paddedNameLength(nameLength);
  for (let i = pos + nameLength; i < nameEnd; i++) out[i] = 0;
  pos = nameEnd;
  if (dataLength > 0) {
    out.set(data, pos);
    const dataEnd = pos + paddedDataLength(dataLength);
    for (let i = pos + dataLength; i < dataEnd; i++) out[i] = 0;
    pos = dataEnd;
  }
  put(out, pos, END_GUARD);
  return out;
}

/** Writes a big-endian word (Limpet links), as writeU32LE writes a little-endian one. */
export function writeU32BE(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

/** The header fields, as read before the name and data arrive. */
export interface Header {
  id: MessageId;
  inReplyTo: MessageId;
  to: number;
  from: number;
  origFrom: NetworkAddress;
  finalTo: NetworkAddress;
  extra: number;
  flags: number;
  nameLength: number;
  dataLength: number;
}

/** A message id from its two words: the shared NO_ID when both are 0. */
export function idFromWords(networkId: number, serialNum: number): MessageId {
  return networkId === 0 && serialNum === 0 ? NO_ID : { networkId, serialNum };
}

/** A network address from its two words: the shared NO_ADDRESS when both are 0. */
export function addressFromWords(networkId: number, localId: number): NetworkAddress {
  return networkId === 0 && localId === 0 ? NO_ADDRESS : { networkId, localId };
}

/** Reads big-endian words (Limpet links) as readU32LE reads little-endian ones. */
export function readU32BE(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/**
 * The one check of a 64-byte header (kbus.c kbus_check_message_written):
 * bad guards, a zero name length or both send flags are EINVAL; a name
 * longer than 1000 is ENAMETOOLONG; a message longer than `maxLength`
 * bytes is EMSGSIZE. It allocates nothing unless it throws.
 */
export function checkHeader(
  bytes: Uint8Array,
  offset = 0,
  littleEndian = true,
  maxLength = Number.MAX_SAFE_INTEGER,
): void {
  if (bytes.length - offset < HEADER_LENGTH) {
    throw new KbusError('EINVAL', `a message header is ${HEADER_LENGTH} bytes`);
  }
  const word = littleEndian ? readU32LE : readU32BE;
  const b = bytes;
  const o = offset;
  const start = word(b, o + At.START_GUARD);
  if (start !== START_GUARD) {
    throw new KbusError('EINVAL', `message start guard is ${hex(start)}, not ${hex(START_GUARD)}`);
  }
  const end = word(b, o + At.END_GUARD);
  if (end !== END_GUARD) {
    throw new KbusError('EINVAL', `message end guard is ${hex(end)}, not ${hex(END_GUARD)}`);
  }
  const nameLength = word(b, o + At.NAME_LENGTH);
  const flags = word(b, o + At.FLAGS);
  if (nameLength === 0) throw new KbusError('EINVAL', 'message name length is 0');
  if (nameLength > MAX_NAME_LENGTH) {
    throw new KbusError(
      'ENAMETOOLONG',
      `message name length is ${nameLength}, more than ${MAX_NAME_LENGTH}`,
    );
  }
  if (flags & Flags.ALL_OR_WAIT && flags & Flags.ALL_OR_FAIL) {
    throw new KbusError('EINVAL', 'a message cannot have both ALL_OR_WAIT and ALL_OR_FAIL set');
  }
  const length = entireMessageLength(nameLength, word(b, o + At.DATA_LENGTH));
  if (length > maxLength) {
    throw new KbusError(
      'EMSGSIZE',
      `message of ${length} bytes is larger than the limit in force, ${maxLength}`,
    );
  }
}

/** Checks a 64-byte header (see checkHeader) and reads its fields. */
export function decodeHeader(
  bytes: Uint8Array,
  offset = 0,
  littleEndian = true,
  maxLength = Number.MAX_SAFE_INTEGER,
): Header {
  checkHeader(bytes, offset, littleEndian, maxLength);
  const word = littleEndian ? readU32LE : readU32BE; // monomorphic in practice: one order per process side
  const b = bytes;
  const o = offset;
  return {
    id: idFromWords(word(b, o + At.ID_NETWORK), word(b, o + At.ID_SERIAL)),
    inReplyTo: idFromWords(word(b, o + At.IN_REPLY_TO_NETWORK), word(b, o + At.IN_REPLY_TO_SERIAL)),
    to: word(b, o + At.TO),
    from: word(b, o + At.FROM),
    origFrom: addressFromWords(word(b, o + At.ORIG_FROM_NETWORK), word(b, o + At.ORIG_FROM_LOCAL)),
    finalTo: addressFromWords(word(b, o + At.FINAL_TO_NETWORK), word(b, o + At.FINAL_TO_LOCAL)),
    extra: word(b, o + At.EXTRA),
    flags: word(b, o + At.FLAGS),
    nameLength: word(b, o + At.NAME_LENGTH),
    dataLength: word(b, o + At.DATA_LENGTH),
  };
}

/** Reads `length` bytes as a Latin-1 string (names are ASCII when valid). */
export const decodeName = decodeLatin1;

export interface DecodeOptions {
  /** Byte order of the words: true (default) on the daemon's socket, false on a Limpet link. */
  littleEndian?: boolean;
  /** Largest entire message accepted, in bytes (EMSGSIZE beyond it). */
  maxLength?: number;
  /** Share the data with `bytes` instead of copying it (default false). */
  shareData?: boolean;
}

/**
 * Decodes one whole entire message occupying exactly `bytes`. Throws a
 * KbusError: EINVAL for a malformed or truncated message, ENAMETOOLONG,
 * and EMSGSIZE for bytes beyond the final end guard or a message larger
 * than `maxLength`. The name's characters are not checked here; see
 * names.ts.
 */
export function decodeMessage(bytes: Uint8Array, options: DecodeOptions = {}): Message {
  const le = options.littleEndian ?? true;
  const header = decodeHeader(bytes, 0, le, options.maxLength);
  const length = entireMessageLength(header.nameLength, header.dataLength);
  if (bytes.length < length) {
    throw new KbusError('EINVAL', `message is truncated: ${bytes.length} of ${length} bytes`);
  }
  if (bytes.length > length) {
    throw new KbusError('EMSGSIZE', `${bytes.length - length} bytes after the final end guard`);
  }
  return decodeBody(bytes, 0, header, le, options.shareData ?? false);
}

/** Builds the message whose header was read from `bytes[offset..]`. */
export function decodeBody(
  bytes: Uint8Array,
  offset: number,
  header: Header,
  littleEndian: boolean,
  shareData: boolean,
  names?: NameCache,
): Message {
  const { nameLength, dataLength } = header;
  const nameAt = offset + At.NAME;
  const dataAt = nameAt + paddedNameLength(nameLength);
  const guardAt = dataAt + paddedDataLength(dataLength);
  const guard = littleEndian ? readU32LE(bytes, guardAt) : readU32BE(bytes, guardAt);
  if (guard !== END_GUARD) {
    throw new KbusError(
      'EINVAL',
      `(entire) message end guard is ${hex(guard)}, not ${hex(END_GUARD)}`,
    );
  }
  const data =
    dataLength === 0
      ? NO_DATA
      : shareData
        ? new Uint8Array(bytes.buffer, bytes.byteOffset + dataAt, dataLength)
        : copyBytes(bytes, dataAt, dataAt + dataLength);
  const name = names
    ? names.read(bytes, nameAt, nameLength)
    : decodeName(bytes, nameAt, nameLength);
  return {
    id: header.id,
    inReplyTo: header.inReplyTo,
    to: header.to,
    from: header.from,
    origFrom: header.origFrom,
    finalTo: header.finalTo,
    extra: header.extra,
    flags: header.flags,
    name,
    data,
  };
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

/**
 * A copy of `bytes[start..end)` as a plain Uint8Array. (Buffer's slice()
 * shares memory instead of copying, so it cannot be relied on.)
 */
export function copyBytes(bytes: Uint8Array, start = 0, end = bytes.length): Uint8Array {
  return Uint8Array.prototype.slice.call(bytes, start, end);
}
