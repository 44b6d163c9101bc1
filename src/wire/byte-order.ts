/**
 * An entire message copied into the other byte order without decoding it:
 * its sixteen header words and its final guard are swapped, and its name
 * and data, which are bytes, are copied as they are. For relays that carry
 * messages between a daemon (little-endian) and a Limpet link (network
 * order). Bind event data holds words too: such a message needs its data
 * converted as well (see the Limpet's link codec), so it is not for this.
 */
import { HEADER_LENGTH } from './constants.js';

/** Copies a word at `from` to `to` with its bytes reversed. */
function swapWord(source: Uint8Array, from: number, target: Uint8Array, to: number): void {
  target[to] = source[from + 3]!;
  target[to + 1] = source[from + 2]!;
  target[to + 2] = source[from + 1]!;
  target[to + 3] = source[from]!;
}

/**
 * Writes the entire message `source[sourceAt, sourceAt + length)` into
 * `target` at `targetAt` in the other byte order. The message must already
 * be checked (its length is that of its header's name and data).
 */
export function copyReordered(
  source: Uint8Array,
  sourceAt: number,
  length: number,
  target: Uint8Array,
  targetAt: number,
): void {
  for (let at = 0; at < HEADER_LENGTH; at += 4) {
    swapWord(source, sourceAt + at, target, targetAt + at);
  }
  const bodyEnd = length - 4;
  if (bodyEnd > HEADER_LENGTH) {
    // A plain view: cheaper to make than a Buffer's subarray.
    const body = new Uint8Array(
      source.buffer,
      source.byteOffset + sourceAt + HEADER_LENGTH,
      bodyEnd - HEADER_LENGTH,
    );
    target.set(body, targetAt + HEADER_LENGTH);
  }
  swapWord(source, sourceAt + bodyEnd, target, targetAt + bodyEnd);
}
