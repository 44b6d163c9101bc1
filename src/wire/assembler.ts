/**
 * The incremental reader behind WRITE: bytes of one entire message arrive
 * in pieces of any size and are checked as soon as each part is complete,
 * in the order kbus.c's kbus_write_parts checks them. The header is checked
 * (guards, lengths, flags, size limit) before any space for the rest is
 * allocated, so a hostile length cannot make it reserve memory.
 */
import { END_GUARD, Flags, HEADER_LENGTH, MAX_NAME_LENGTH, START_GUARD } from './constants.js';
import { KbusError } from './errno.js';
import {
  addressFromWords,
  decodeBody,
  decodeHeader,
  decodeName,
  entireMessageLength,
  type Header,
  idFromWords,
  type Message,
  type MessageId,
  type NetworkAddress,
  paddedDataLength,
  paddedNameLength,
} from './message.js';
import { sendNameError } from './names.js';
import type { BytePool } from './pool.js';
import { readU32LE } from './u32.js';

/** The parts of an entire message, as kbus.c names them in /proc/kbus/stats. */
export const MESSAGE_PARTS = ['HDR', 'NAME', 'NPAD', 'DATA', 'DPAD', 'FINAL'] as const;

export class MessageAssembler {
  private readonly headerBytes = new Uint8Array(HEADER_LENGTH);
  private header: Header | undefined;
  private body: Uint8Array | undefined;
  private filled = 0;
  private total = 0;

  constructor(
    private readonly maxLength: number,
    private readonly littleEndian = true,
  ) {}

  /** True once any byte of a message has been written. */
  get started(): boolean {
    return this.filled > 0;
  }

  /** Bytes written so far. */
  get length(): number {
    return this.filled;
  }

  /** True once the final end guard has been written and checked. */
  get finished(): boolean {
    return this.message !== undefined;
  }

  /**
   * Takes all of `chunk` or throws: EINVAL, ENAMETOOLONG, EMSGSIZE or
   * EBADMSG as kbus.c would, and EMSGSIZE for bytes after the final end
   * guard. After a throw the partial message is forgotten.
   */
  write(chunk: Uint8Array): void {
    try {
      this.take(chunk);
    } catch (err) {
      // A message with an error in it is gone: the next byte starts a new one.
      this.reset();
      throw err;
    }
  }

  private take(chunk: Uint8Array): void {
    let at = 0;
    if (this.header === undefined) {
      const take = Math.min(HEADER_LENGTH - this.filled, chunk.length);
      this.headerBytes.set(chunk.subarray(0, take), this.filled);
      this.filled += take;
      at = take;
      if (this.filled < HEADER_LENGTH) return;
      const header = decodeHeader(this.headerBytes, 0, this.littleEndian, this.maxLength);
      this.header = header;
      this.total = entireMessageLength(header.nameLength, header.dataLength);
      this.body = new Uint8Array(this.total);
      this.body.set(this.headerBytes);
    }
    const header = this.header;
    const body = this.body!;
    const before = this.filled;
    const remaining = chunk.length - at;
    if (remaining > 0 && before === this.total) {
      throw new KbusError(
        'EMSGSIZE',
        `${remaining} bytes written after the end guard of a message: did you forget to SEND?`,
      );
    }
    const take = Math.min(this.total - before, remaining);
    body.set(chunk.subarray(at, at + take), before);
    this.filled = before + take;
    const nameEnd = HEADER_LENGTH + header.nameLength;
    if (before < nameEnd && this.filled >= nameEnd) {
      const error = sendNameError(decodeName(body, HEADER_LENGTH, header.nameLength));
      if (error) throw new KbusError(error === 'EINVAL' ? 'EBADMSG' : error, 'bad message name');
    }
    if (this.filled === this.total) {
      // decodeBody checks the final end guard (EINVAL).
      this.message = decodeBody(body, 0, header, this.littleEndian, true);
    }
    if (take < remaining) {
      throw new KbusError(
        'EMSGSIZE',
        `${remaining - take} bytes written after the end guard of a message: did you forget to SEND?`,
      );
    }
  }

  /** The finished message (undefined until finished). */
  message: Message | undefined;

  /** Forgets any partial or finished message. */
  reset(): void {
    this.header = undefined;
    this.body = undefined;
    this.message = undefined;
    this.filled = 0;
    this.total = 0;
  }

  /**
   * Where writing has got to, as kbus.c reports it: the part being written
   * and the byte within it. Past the final guard kbus.c reports part "???".
   */
  progress(): { part: string; pos: number } {
    const header = this.header;
    if (header === undefined) return { part: 'HDR', pos: this.filled };
    if (this.filled === this.total) return { part: '???', pos: 0 };
    const lengths = [
      HEADER_LENGTH,
      header.nameLength,
      paddedNameLength(header.nameLength) - header.nameLength,
      header.dataLength,
      paddedDataLength(header.dataLength) - header.dataLength,
      4,
    ];
    let start = 0;
    for (let i = 0; i < lengths.length; i++) {
      const end = start + lengths[i]!;
      if (end > this.filled || start === this.filled) {
        return { part: MESSAGE_PARTS[i]!, pos: this.filled - start };
      }
      start = end;
    }
    return { part: '???', pos: 0 };
  }
}

/** A message decoded from bytes, keeping its entire encoding for reuse. */
export type EncodedMessage = Message & { readonly encoded: Uint8Array };

/**
 * What WRITE of `bytes` then SEND would check, in one step and with the
 * same errors in the same order, for a message given whole (SENDMSG): a
 * short message is EINVAL (unfinished), then the header, the name, the
 * final guard, and bytes past the end (EMSGSIZE). The bytes are copied once
 * (padding zeroed) and kept as the message's `encoded` form, so that
 * delivering it needs no encoding; with no pool, `bytes` themselves are
 * kept (the caller must not use them again). `names` remembers the
 * sender's last valid name, so that sending it again makes no new string.
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
  if (length < HEADER_LENGTH) throw new KbusError('EINVAL', 'the message written is not finished');
  const nameLength = readU32LE(bytes, 52);
  const dataLength = readU32LE(bytes, 56);
  const flags = readU32LE(bytes, 48);
  if (
    readU32LE(bytes, 0) !== START_GUARD ||
    readU32LE(bytes, 60) !== END_GUARD ||
    nameLength === 0 ||
    nameLength > MAX_NAME_LENGTH ||
    (flags & Flags.ALL_OR_WAIT && flags & Flags.ALL_OR_FAIL) ||
    entireMessageLength(nameLength, dataLength) > maxLength
  ) {
    decodeHeader(bytes, 0, true, maxLength); // throws the error, worded as for WRITE
  }
  const nameEnd = HEADER_LENGTH + nameLength;
  const total = entireMessageLength(nameLength, dataLength);
  if (length < nameEnd) throw new KbusError('EINVAL', 'the message written is not finished');
  let name = names?.match(bytes, HEADER_LENGTH, nameLength);
  if (name === undefined) {
    name = decodeName(bytes, HEADER_LENGTH, nameLength);
    const nameError = sendNameError(name);
    if (nameError)
      throw new KbusError(nameError === 'EINVAL' ? 'EBADMSG' : nameError, 'bad message name');
    names?.remember(bytes, HEADER_LENGTH, name);
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
  // Without a pool the caller gives the bytes away: they are kept and changed in place.
  let encoded = bytes;
  if (pool !== undefined) {
    encoded = pool.allocate(total);
    encoded.set(bytes);
  }
  const dataAt = HEADER_LENGTH + paddedNameLength(nameLength);
  for (let i = nameEnd; i < dataAt; i++) encoded[i] = 0;
  for (let i = dataAt + dataLength; i < total - 4; i++) encoded[i] = 0;
  return new WholeMessage(
    idFromWords(readU32LE(bytes, 4), readU32LE(bytes, 8)),
    idFromWords(readU32LE(bytes, 12), readU32LE(bytes, 16)),
    readU32LE(bytes, 20),
    readU32LE(bytes, 24),
    addressFromWords(readU32LE(bytes, 28), readU32LE(bytes, 32)),
    addressFromWords(readU32LE(bytes, 36), readU32LE(bytes, 40)),
    readU32LE(bytes, 44),
    flags,
    name,
    encoded,
    dataAt,
    dataLength,
  );
}

/**
 * A message checked by decodeWhole. Its data is a view of `encoded`, made
 * only when asked for: delivering the message copies `encoded` whole and
 * never needs one. Fields are plain (and writable, for KBUS to stamp).
 */
class WholeMessage implements EncodedMessage {
  private view: Uint8Array | undefined;

  constructor(
    public id: MessageId,
    public inReplyTo: MessageId,
    public to: number,
    public from: number,
    public origFrom: NetworkAddress,
    public finalTo: NetworkAddress,
    public extra: number,
    public flags: number,
    public name: string,
    readonly encoded: Uint8Array,
    private readonly dataAt: number,
    private readonly dataLength: number,
  ) {}

  get data(): Uint8Array {
    if (this.view === undefined) {
      const e = this.encoded;
      this.view =
        this.dataLength === 0
          ? NO_DATA
          : new Uint8Array(e.buffer, e.byteOffset + this.dataAt, this.dataLength);
    }
    return this.view;
  }
}

const NO_DATA = new Uint8Array(0);

/**
 * The last valid name a sender used. A sender usually sends the same name
 * again and again; comparing its bytes is cheaper than making, checking
 * and hashing a new string each time.
 */
export class NameCache {
  private bytes = new Uint8Array(0);
  private name = '';

  /** The cached name if `bytes[at..at+length)` spell it. */
  match(bytes: Uint8Array, at: number, length: number): string | undefined {
    const cached = this.bytes;
    if (cached.length !== length) return undefined;
    for (let i = 0; i < length; i++) if (bytes[at + i] !== cached[i]) return undefined;
    return this.name;
  }

  remember(bytes: Uint8Array, at: number, name: string): void {
    this.bytes = Uint8Array.prototype.slice.call(bytes, at, at + name.length);
    this.name = name;
  }
}
