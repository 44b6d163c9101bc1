/**
 * The Limpet link format: an 8-byte greeting (ASCII "HELO" and the network
 * id), then entire messages in network byte order, back to back. The data
 * of a `$.KBUS.ReplierBindEvent` also has its three words in network order
 * on the link.
 */
import {
  HeaderOffset as At,
  checkHeader,
  copyBytes,
  decodeBody,
  decodeHeader,
  END_GUARD,
  encodeMessage,
  entireMessageLength,
  Flags,
  HEADER_LENGTH,
  type Header,
  type KbusError,
  MAX_NAME_LENGTH,
  type Message,
  MessageNames,
  NameCache,
  paddedNameLength,
  readU32BE,
} from '../wire/index.js';

/**
 * Why a link could not be made, or broke. Stable codes: match on `code`,
 * never on the message.
 */
export const LinkErrorCode = {
  /** An address with a port outside 1 to 65535. */
  ADDRESS: 'KBUS_LINK_ADDRESS',
  /** A Unix-socket server's path already exists (limpet.md section 2). */
  PATH_EXISTS: 'KBUS_LINK_PATH_EXISTS',
  /** The server could not listen; `cause` is the system error. */
  LISTEN: 'KBUS_LINK_LISTEN',
  /** The client could not reach the server (within its retry time); `cause` says why. */
  CONNECT: 'KBUS_LINK_CONNECT',
  /** A TLS certificate or key file could not be read; `cause` is the system error. */
  TLS_FILES: 'KBUS_LINK_TLS_FILES',
  /** The peer did not greet with HELO, or the link ended or failed during the greeting. */
  GREETING: 'KBUS_LINK_GREETING',
  /** The peer did not greet within the greeting timeout. */
  GREETING_TIMEOUT: 'KBUS_LINK_GREETING_TIMEOUT',
  /** The peer's network id is 0, or our own (limpet.md section 4). */
  PEER_ID: 'KBUS_LINK_PEER_ID',
  /** A message on the link breaks the format: guards, lengths, bind event data. */
  FORMAT: 'KBUS_LINK_FORMAT',
  /** A message's data is over the receiver's limit (`--max-message-size`). */
  TOO_LARGE: 'KBUS_LINK_TOO_LARGE',
} as const;
export type LinkErrorCode = (typeof LinkErrorCode)[keyof typeof LinkErrorCode];

/** A link that cannot be made, or that is broken (limpet.md sections 4 and 6). */
export class LinkError extends Error {
  readonly code: LinkErrorCode;

  constructor(code: LinkErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LinkError';
    this.code = code;
  }
}

export const GREETING_LENGTH = 8;
const HELO = [0x48, 0x45, 0x4c, 0x4f];

export function encodeGreeting(networkId: number): Uint8Array {
  const out = new Uint8Array(GREETING_LENGTH);
  out.set(HELO);
  new DataView(out.buffer).setUint32(4, networkId, false);
  return out;
}

/** The peer's network id from its greeting; throws LinkError if it is not a valid greeting. */
export function decodeGreeting(bytes: Uint8Array, ownId: number): number {
  if (bytes.length < GREETING_LENGTH || HELO.some((b, i) => bytes[i] !== b)) {
    throw new LinkError(LinkErrorCode.GREETING, 'the peer did not greet with HELO');
  }
  const peer = new DataView(bytes.buffer, bytes.byteOffset, 8).getUint32(4, false);
  if (peer === 0) throw new LinkError(LinkErrorCode.PEER_ID, 'the peer has network id 0');
  if (peer === ownId) {
    throw new LinkError(LinkErrorCode.PEER_ID, `the peer has our own network id ${ownId}`);
  }
  return peer;
}

/** Swaps the byte order of the three leading words of bind event data (a copy). */
function swapBindEventWords(data: Uint8Array): Uint8Array {
  const out = copyBytes(data);
  for (let word = 0; word < 3; word++) {
    const at = word * 4;
    out[at] = data[at + 3]!;
    out[at + 1] = data[at + 2]!;
    out[at + 2] = data[at + 1]!;
    out[at + 3] = data[at]!;
  }
  return out;
}

function isBindEvent(message: Message): boolean {
  return message.name === MessageNames.REPLIER_BIND_EVENT;
}

/** The message as the link carries it, before byte order: bind event words converted. */
function forLink(message: Message): Message {
  return isBindEvent(message) && message.data.length >= 12
    ? { ...message, data: swapBindEventWords(message.data) }
    : message;
}

/** Encodes a message for the link: big-endian, bind event words converted. */
export function encodeLinkMessage(message: Message): Uint8Array {
  return encodeMessage(forLink(message), false);
}

/** encodeLinkMessage into `target` at `at` (there is room: encodedLength(message)). */
export function encodeLinkMessageInto(message: Message, target: Uint8Array, at: number): void {
  encodeMessage(forLink(message), false, target, at);
}

/**
 * Checks bind event data as it came off the link (limpet.md section 10.1):
 * at least 12 bytes, data_len exactly 12 + the padded name, a NUL after the
 * name. Returns the data in daemon (little-endian) order.
 */
function bindEventFromLink(data: Uint8Array): Uint8Array {
  if (data.length < 12)
    throw new LinkError(LinkErrorCode.FORMAT, 'ReplierBindEvent data under 12 bytes');
  const view = new DataView(data.buffer, data.byteOffset, data.length);
  const nameLength = view.getUint32(8, false);
  if (
    nameLength === 0 ||
    nameLength > MAX_NAME_LENGTH ||
    data.length !== 12 + paddedNameLength(nameLength)
  ) {
    throw new LinkError(
      LinkErrorCode.FORMAT,
      `ReplierBindEvent data of ${data.length} bytes for a name of ${nameLength}`,
    );
  }
  if (data[12 + nameLength] !== 0)
    throw new LinkError(LinkErrorCode.FORMAT, 'ReplierBindEvent name is not NUL-terminated');
  return swapBindEventWords(data);
}

/**
 * Is offered each message that arrives whole in one read, as its bytes in
 * link order (`bytes[at, at + length)`, checked) and its name; returns true
 * if it has dealt with it, false to have it decoded and given to the
 * decoder's onMessage instead. The bytes are not the handler's to keep.
 */
export type LinkBytesHandler = (
  bytes: Uint8Array,
  at: number,
  length: number,
  name: string,
) => boolean;

/**
 * Reads link messages incrementally. Each header is checked as soon as its
 * 64 bytes are in (guards, name length, data length against the limit),
 * before anything more is buffered; a bad one is a LinkError. A message
 * wholly inside one chunk is read where it lies, its data a view of the
 * chunk (a socket's reads are never reused); only one split across chunks
 * is gathered into a buffer of its own.
 */
export class LinkDecoder {
  private readonly headerBytes = new Uint8Array(HEADER_LENGTH);
  private headerFilled = 0;
  private header: Header | undefined;
  private body: Uint8Array | undefined;
  private bodyFilled = 0;
  /** The name last read: a link usually carries the same names again and again. */
  private readonly names = new NameCache();

  constructor(private readonly maxDataLength: number) {}

  /**
   * Feeds bytes from the link; calls `onMessage` for each message, in
   * order. A message wholly inside `chunk` is first offered, checked as
   * onMessage's would be, to `onBytes` (see LinkBytesHandler): one that it
   * takes is never decoded.
   */
  push(chunk: Uint8Array, onMessage: (message: Message) => void, onBytes?: LinkBytesHandler): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.header === undefined) {
        // Fast path: a whole message in this chunk, nothing held from before.
        if (this.headerFilled === 0 && chunk.length - at >= HEADER_LENGTH) {
          if (onBytes !== undefined) {
            const taken = this.offer(chunk, at, onBytes);
            if (taken > 0) {
              at += taken;
              continue;
            }
          }
          const header = this.checkedHeader(chunk, at);
          const total = entireMessageLength(header.nameLength, header.dataLength);
          if (chunk.length - at >= total) {
            onMessage(this.message(chunk, at, header));
            at += total;
            continue;
          }
          this.startBody(header);
          continue;
        }
        const n = Math.min(HEADER_LENGTH - this.headerFilled, chunk.length - at);
        this.headerBytes.set(view(chunk, at, n), this.headerFilled);
        this.headerFilled += n;
        at += n;
        if (this.headerFilled < HEADER_LENGTH) return;
        this.headerFilled = 0;
        this.startBody(this.checkedHeader(this.headerBytes, 0));
        this.body!.set(this.headerBytes);
        this.bodyFilled = HEADER_LENGTH;
      }
      const body = this.body!;
      const n = Math.min(body.length - this.bodyFilled, chunk.length - at);
      body.set(view(chunk, at, n), this.bodyFilled);
      this.bodyFilled += n;
      at += n;
      if (this.bodyFilled < body.length) return;
      const header = this.header!;
      this.header = undefined;
      this.body = undefined;
      onMessage(this.message(body, 0, header));
    }
  }

  /**
   * Offers the message at `chunk[at..]` to `onBytes` if it lies wholly in
   * the chunk, with the checks checkedHeader() and message() make, and no
   * object made. Returns its length if taken, else 0.
   */
  private offer(chunk: Uint8Array, at: number, onBytes: LinkBytesHandler): number {
    try {
      checkHeader(chunk, at, false);
    } catch {
      return 0; // checkedHeader() says what is wrong
    }
    const nameLength = readU32BE(chunk, at + At.NAME_LENGTH);
    const dataLength = readU32BE(chunk, at + At.DATA_LENGTH);
    const total = entireMessageLength(nameLength, dataLength);
    if (dataLength > this.maxDataLength || chunk.length - at < total) return 0;
    if (readU32BE(chunk, at + total - 4) !== END_GUARD) return 0; // message() says so
    const name = this.names.read(chunk, at + At.NAME, nameLength);
    return onBytes(chunk, at, total, name) ? total : 0;
  }

  /** Expects the message `header` starts, from its first byte. */
  private startBody(header: Header): void {
    this.header = header;
    this.body = new Uint8Array(entireMessageLength(header.nameLength, header.dataLength));
    this.bodyFilled = 0;
  }

  private checkedHeader(bytes: Uint8Array, offset: number): Header {
    let header: Header;
    try {
      header = decodeHeader(bytes, offset, false);
    } catch (err) {
      throw new LinkError(
        LinkErrorCode.FORMAT,
        `bad message header on the link: ${(err as KbusError).message}`,
        { cause: err },
      );
    }
    if (header.dataLength > this.maxDataLength) {
      throw new LinkError(
        LinkErrorCode.TOO_LARGE,
        `message data of ${header.dataLength} bytes is over the limit of ${this.maxDataLength}`,
      );
    }
    return header;
  }

  /** The whole message at `bytes[offset..]`, whose header has been checked. */
  private message(bytes: Uint8Array, offset: number, header: Header): Message {
    let message: Message;
    try {
      message = decodeBody(bytes, offset, header, false, true, this.names);
    } catch (err) {
      throw new LinkError(
        LinkErrorCode.FORMAT,
        `bad message on the link: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    if (isBindEvent(message) && message.flags & Flags.SYNTHETIC) {
      message = { ...message, data: bindEventFromLink(message.data) };
    }
    return message;
  }
}

/** `n` bytes of `bytes` from `at`: a plain view, cheaper than a Buffer's subarray. */
function view(bytes: Uint8Array, at: number, n: number): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset + at, n);
}
