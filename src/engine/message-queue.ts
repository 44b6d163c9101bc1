/**
 * One Ksock's message queue (Kbus.txt "Queues filling up"): its entries,
 * its limit in messages (MAXMSGS), the bytes it holds against its byte
 * budget and the engine's overall one, and "Receiving messages once only".
 */
import { Deque, Flags, isSameId, type Message, type MessageId, NO_ID } from '../wire/index.js';
import { QueuedMessage } from './queued.js';
import type { Binding } from './router.js';

/**
 * The byte budgets, shared by every queue of an engine: one queue may hold
 * up to `perQueue` bytes, all of them together up to `total`. Each queued
 * copy is counted at its entire length; the copies of a message sent to
 * several Ksocks share one set of bytes, so `used` is more than the memory
 * really held: a deliberate, conservative upper bound.
 */
export class QueueBudget {
  private usedBytes = 0;

  constructor(
    readonly perQueue: number,
    readonly total: number,
  ) {}

  /** Bytes held by every queue. */
  get used(): number {
    return this.usedBytes;
  }

  /** The overall budget is reached: every queue is full. */
  get spent(): boolean {
    return this.usedBytes >= this.total;
  }

  /** @internal */
  add(bytes: number): void {
    this.usedBytes += bytes;
  }

  /** @internal */
  release(bytes: number): void {
    this.usedBytes -= bytes;
  }
}

export class MessageQueue<K> {
  private readonly entries = new Deque<QueuedMessage<K>>();
  private heldBytes = 0;
  /** MAXMSGS: the most messages (reserved reply places included). */
  limit: number;
  /** MSGONLYONCE: a message that matches several bindings is queued once. */
  onlyOnce = false;
  /** The id of the message queued last, for onlyOnce. */
  private lastQueued: MessageId = NO_ID;
  /**
   * A further budget this queue shares with others its owner chose (the
   * daemon's per-identity budget): its `total` is their limit together.
   */
  account: QueueBudget | undefined;

  constructor(
    limit: number,
    private readonly budget: QueueBudget,
  ) {
    this.limit = limit;
  }

  get length(): number {
    return this.entries.length;
  }

  /** The entire lengths of the messages queued, summed (the byte budget's measure). */
  get bytes(): number {
    return this.heldBytes;
  }

  /**
   * kbus_queue_is_full: queued messages plus the places reserved for
   * awaited replies reach MAXMSGS, or the bytes held reach a byte budget
   * (this queue's, or the engine's over all queues). Checked before adding,
   * so a queue may pass a budget by one message. A reply the Ksock awaits
   * takes the place reserved for it when its request was sent: one place
   * fewer is counted, and this queue's own byte budget does not refuse it;
   * the overall budget, which bounds the daemon's memory, does.
   */
  isFull(reserved: number, forExpectedReply: boolean): boolean {
    let used = this.entries.length + reserved;
    if (forExpectedReply) used--;
    if (used >= this.limit) return true;
    if (this.budget.spent) return true;
    if (this.account?.spent) return true;
    return !forExpectedReply && this.heldBytes >= this.budget.perQueue;
  }

  /**
   * kbus_push_message: queues this recipient's copy of `message`, at the
   * front if URGENT. Returns false if Kbus.txt "Receiving messages once
   * only" says this Ksock already has it.
   */
  add(message: Message, flags: number, binding: Binding<K> | null, forReplier: boolean): boolean {
    if (this.onlyOnce && !forReplier && isSameId(this.lastQueued, message.id)) return false;
    const item = new QueuedMessage<K>(message, flags, binding);
    // By hand rather than through a method: this is every message's path.
    this.heldBytes += item.length;
    this.budget.add(item.length);
    this.account?.add(item.length);
    if (message.flags & Flags.URGENT) this.entries.pushFront(item);
    else this.entries.pushBack(item);
    this.lastQueued = message.id;
    return true;
  }

  /** Kbus.txt "Receiving messages once only": would add() refuse this listener copy as had already? */
  hadAlready(message: Message): boolean {
    return this.onlyOnce && isSameId(this.lastQueued, message.id);
  }

  /** A listener copy was taken without being queued (EngineKsock.receiveNow): it counts as had. */
  tookNow(message: Message): void {
    this.lastQueued = message.id;
  }

  [Symbol.iterator](): IterableIterator<QueuedMessage<K>> {
    return this.entries[Symbol.iterator]();
  }

  peek(): QueuedMessage<K> | undefined {
    return this.entries.peekFront();
  }

  pop(): QueuedMessage<K> | undefined {
    const item = this.entries.popFront();
    if (item !== undefined) this.drop(item.length);
    return item;
  }

  /** Kbus.txt "Listeners": UNBIND removes the messages that binding brought. */
  removeFrom(binding: Binding<K>): QueuedMessage<K>[] {
    const removed = this.entries.removeWhere((item) => item.binding === binding);
    for (const item of removed) this.drop(item.length);
    return removed;
  }

  /** Empties the queue (the Ksock closes) and returns what was in it. */
  takeAll(): QueuedMessage<K>[] {
    const all = [...this.entries];
    this.entries.clear();
    this.drop(this.heldBytes);
    return all;
  }

  /**
   * Makes the queued messages that are small parts of larger buffers own
   * their bytes (QueuedMessage.compact). Messages join at the back (URGENT
   * ones at the front) and compaction looks at each once, so it walks in
   * from both ends only as far as the entries it has not seen. Returns how
   * many it copied.
   */
  compact(copies: Map<Uint8Array, Uint8Array>): number {
    let copied = 0;
    const entries = this.entries;
    let back = entries.length - 1;
    for (let item = entries.at(back); item !== undefined && !item.compacted; ) {
      if (item.compact(copies)) copied++;
      item = entries.at(--back);
    }
    let front = 0;
    for (let item = entries.at(front); item !== undefined && !item.compacted; ) {
      if (item.compact(copies)) copied++;
      item = entries.at(++front);
    }
    return copied;
  }

  private drop(bytes: number): void {
    this.heldBytes -= bytes;
    this.budget.release(bytes);
    this.account?.release(bytes);
  }
}
