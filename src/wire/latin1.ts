/**
 * Latin-1 text in byte arrays: message names are ASCII when valid, and are
 * carried one byte per character. Node's Buffer has native Latin-1 codecs
 * that work on any Uint8Array and are several times faster for all but the
 * shortest names; where there is no Buffer (a browser) plain loops serve.
 */

type Latin1Native = {
  latin1Slice(this: Uint8Array, start: number, end: number): string;
  latin1Write(this: Uint8Array, text: string, offset: number, length: number): number;
};

const native: Latin1Native | undefined =
  typeof Buffer === 'function' ? (Buffer.prototype as unknown as Latin1Native) : undefined;

/** Names up to this long are quicker by hand than through a native call. */
const SHORT = 32;

/** Reads `length` bytes at `offset` as a Latin-1 string. */
export function decodeLatin1(bytes: Uint8Array, offset: number, length: number): string {
  if (native !== undefined && length > 8) {
    return native.latin1Slice.call(bytes, offset, offset + length);
  }
  let s = '';
  for (let i = 0; i < length; i++) s += String.fromCharCode(bytes[offset + i]!);
  return s;
}

/** Writes `text` (one byte per character, low 8 bits) at `offset`. */
export function writeLatin1(target: Uint8Array, offset: number, text: string): void {
  const length = text.length;
  if (native !== undefined && length > SHORT) {
    native.latin1Write.call(target, text, offset, length);
    return;
  }
  for (let i = 0; i < length; i++) target[offset + i] = text.charCodeAt(i) & 0xff;
}

/** `text` as Latin-1 bytes. */
export function latin1Bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  writeLatin1(out, 0, text);
  return out;
}
