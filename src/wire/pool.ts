/**
 * Memory for many small messages without an allocation each: views into
 * shared slabs, handed out in turn. (A fresh Uint8Array of more than 64
 * bytes is a separate allocation outside V8's heap, many times dearer.) A
 * slab is freed when nothing uses any view of it any more.
 */
const SLAB_SIZE = 256 * 1024;
/** Larger requests get memory of their own. */
const MAX_POOLED = 8 * 1024;

export class BytePool {
  private slab = new ArrayBuffer(SLAB_SIZE);
  private used = 0;

  /** `length` bytes, not zeroed. */
  allocate(length: number): Uint8Array {
    if (length > MAX_POOLED) return new Uint8Array(length);
    if (this.used + length > SLAB_SIZE) {
      this.slab = new ArrayBuffer(SLAB_SIZE);
      this.used = 0;
    }
    const view = new Uint8Array(this.slab, this.used, length);
    // Keep views 8-byte aligned.
    this.used += (length + 7) & ~7;
    return view;
  }
}
