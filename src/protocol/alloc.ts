/**
 * Memory for bytes about to be overwritten. Under Node it is not zeroed
 * (Buffer.allocUnsafe): zeroing would be a pass over every byte for
 * nothing, and untouched pages of a large slab never become resident.
 * Elsewhere (a browser) a plain array.
 */
export const allocate: (size: number) => Uint8Array =
  typeof Buffer === 'function'
    ? (size) => Buffer.allocUnsafe(size)
    : (size) => new Uint8Array(size);
