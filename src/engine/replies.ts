/**
 * One Ksock's side of the reply guarantee (Kbus.txt "Requests and
 * Replies"): the requests it sent and awaits a reply to (each holds a place
 * reserved in its queue), and the requests it read and owes a reply to
 * (each gets `$.KBUS.Replier.Ignored` if the Ksock closes first).
 */
import { idKey, type Message, type MessageId } from '../wire/index.js';

/** A Request a Ksock has read and must still reply to. */
export interface UnrepliedRequest {
  /** Order of reading, to answer the newest first as kbus.c does. */
  readonly seq: number;
  readonly id: MessageId;
  readonly from: number;
  readonly name: string;
}

/** kbus.c kbus_next_size: how the outstanding-request array grows. */
function nextSize(size: number): number {
  return size < 16 ? size << 1 : size + (size >> 3);
}

export class ReplyLedger {
  /** Requests sent, awaiting a reply: id key to count (an id may repeat across networks). */
  private readonly awaited = new Map<string | number, number>();
  private awaitedCount = 0;
  /** kbus.c's array size and high-water mark, for /proc/kbus/stats. */
  private awaitedSize = 16;
  private awaitedMax = 0;
  /** Requests read and not yet replied to, by id (a list for the rare repeated id). */
  private readonly owed = new Map<string | number, UnrepliedRequest[]>();
  private owedCount = 0;
  private owedSeq = 0;
  private owedMax = 0;

  // --- Replies this Ksock awaits -------------------------------------------

  /** Replies awaited: each holds a place in the queue (kbus_queue_is_full). */
  get awaiting(): number {
    return this.awaitedCount;
  }

  /** A request was sent: its reply is awaited. */
  await(id: MessageId): void {
    const key = idKey(id);
    this.awaited.set(key, (this.awaited.get(key) ?? 0) + 1);
    if (this.awaitedCount === this.awaitedSize) this.awaitedSize = nextSize(this.awaitedSize);
    this.awaitedCount++;
    if (this.awaitedCount > this.awaitedMax) this.awaitedMax = this.awaitedCount;
  }

  /** Is a reply to `id` awaited? (A reply to anything else is ECONNREFUSED.) */
  awaits(id: MessageId): boolean {
    return this.awaited.has(idKey(id));
  }

  /** A reply (or a status message in its place) to `id` arrived. */
  arrived(id: MessageId): void {
    const key = idKey(id);
    const count = this.awaited.get(key);
    if (count === undefined) return;
    if (count === 1) this.awaited.delete(key);
    else this.awaited.set(key, count - 1);
    this.awaitedCount--;
  }

  /** The Ksock closed: it awaits nothing any more. */
  forgetAwaited(): void {
    this.awaited.clear();
    this.awaitedCount = 0;
  }

  // --- Replies this Ksock owes ---------------------------------------------

  /** Requests read and still owed a reply (UNREPLIEDTO). */
  get owing(): number {
    return this.owedCount;
  }

  /** A request was read by the replier it was for: a reply is owed. */
  owe(request: Message): void {
    const key = idKey(request.id);
    const entry = { seq: this.owedSeq++, id: request.id, from: request.from, name: request.name };
    const list = this.owed.get(key);
    if (list) list.push(entry);
    else this.owed.set(key, [entry]);
    this.owedCount++;
    if (this.owedCount > this.owedMax) this.owedMax = this.owedCount;
  }

  /** A reply to `id` was sent. */
  repaid(id: MessageId): void {
    const key = idKey(id);
    const list = this.owed.get(key);
    if (list === undefined) return;
    // kbus.c removes the newest matching entry.
    list.pop();
    if (list.length === 0) this.owed.delete(key);
    this.owedCount--;
  }

  /** Every request still owed a reply, newest first, forgetting them all. */
  takeOwed(): UnrepliedRequest[] {
    const all: UnrepliedRequest[] = [];
    for (const list of this.owed.values()) all.push(...list);
    this.owed.clear();
    this.owedCount = 0;
    return all.sort((a, b) => b.seq - a.seq);
  }

  /** The figures /proc/kbus/stats prints. */
  stats(): {
    awaiting: number;
    size: number;
    maxAwaiting: number;
    owing: number;
    maxOwing: number;
  } {
    return {
      awaiting: this.awaitedCount,
      size: this.awaitedSize,
      maxAwaiting: this.awaitedMax,
      owing: this.owedCount,
      maxOwing: this.owedMax,
    };
  }
}
