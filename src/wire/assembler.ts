/**
 * The incremental reader behind WRITE: bytes of one entire message arrive
 * in pieces of any size and are checked as soon as each part is complete,
 * in the order kbus.c's kbus_write_parts checks them. The header is checked
 * (guards, lengths, flags, size limit) before any space for the rest is
 * allocated, so a hostile length cannot make it reserve memory.
 */
import { HEADER_LENGTH } from './constants.js';
import { KbusError } from './errno.js';
import {
  decodeBody,
  decodeHeader,
  decodeName,
  entireMessageLength,
  type Header,
  type Message,
  paddedDataLength,
  paddedNameLength,
} from './message.js';
import { sendNameError } from './names.js';

/** The parts of an entire message, as kbus.c names them in /proc/kbus/stats. */
export const MESSAGE_PARTS = ['HDR', 'NAME', 'NPAD', 'DATA', 'DPAD', 'FINAL'] as const;

export class MessageAssembler {
  private readonly headerBytes = new Uint8Array(HEADER_LENGTH);
  private header: Header | undefined;
  private body: Uint8Array | undefined;
  private filled = 0;
  private total = 0;

  constructor(
    /** The largest entire message accepted (EMSGSIZE beyond it); the device's MAXMSGSIZE may change it. */
    public maxLength: number,
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
