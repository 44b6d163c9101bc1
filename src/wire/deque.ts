/**
 * A double-ended queue on a growable ring buffer: O(1) at both ends, no
 * per-item allocation. Message queues need both ends (URGENT messages go
 * to the front, Kbus.txt "Urgent messages").
 */
export class Deque<T> {
  private items: (T | undefined)[] = new Array(16);
  private head = 0;
  private count = 0;

  get length(): number {
    return this.count;
  }

  pushBack(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) & (this.items.length - 1)] = item;
    this.count++;
  }

  pushFront(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.head = (this.head - 1) & (this.items.length - 1);
    this.items[this.head] = item;
    this.count++;
  }

  popFront(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & (this.items.length - 1);
    this.count--;
    return item;
  }

  /** The item at `index` from the front (0 is the front), or undefined past the end. */
  at(index: number): T | undefined {
    if (index < 0 || index >= this.count) return undefined;
    return this.items[(this.head + index) & (this.items.length - 1)];
  }

  peekFront(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  *[Symbol.iterator](): IterableIterator<T> {
    const mask = this.items.length - 1;
    for (let i = 0; i < this.count; i++) yield this.items[(this.head + i) & mask]!;
  }

  /** Removes (in order) every item for which `remove` is true and returns them. */
  removeWhere(remove: (item: T) => boolean): T[] {
    const removed: T[] = [];
    const kept: T[] = [];
    for (const item of this) (remove(item) ? removed : kept).push(item);
    if (removed.length > 0) {
      this.clear();
      for (const item of kept) this.pushBack(item);
    }
    return removed;
  }

  clear(): void {
    this.items = new Array(16);
    this.head = 0;
    this.count = 0;
  }

  private grow(): void {
    const old = this.items;
    const mask = old.length - 1;
    const next: (T | undefined)[] = new Array(old.length * 2);
    for (let i = 0; i < this.count; i++) next[i] = old[(this.head + i) & mask];
    this.items = next;
    this.head = 0;
  }
}
