/**
 * The device's set-aside list of Replier Unbind Events (kbus.c
 * kbus_safe_report_unbinding and friends). When a closing replier's unbind
 * event cannot be delivered because a listener's queue is full, a copy is
 * kept here for each listener and moved into its queue as room appears.
 * Past the limit (maxUnsentUnbind) the list "goes tragic": listeners get
 * one `$.KBUS.UnbindEventsLost` message instead.
 */
import { type Message, MessageNames } from '../wire/index.js';
import type { Binding } from './router.js';

interface SetAside<K> {
  readonly sendTo: K;
  readonly message: Message;
  readonly binding: Binding<K>;
}

export class UnsentUnbindEvents<K> {
  private entries: SetAside<K>[] = [];
  /**
   * The Ksocks that may have events here (kbus.c's per-Ksock
   * maybe_got_unsent_unbind_msgs): set when one is added, cleared when a
   * look finds none.
   */
  private readonly maybe = new Set<K>();
  /** Set when the list overflowed; cleared when it empties. */
  tragic = false;

  get length(): number {
    return this.entries.length;
  }

  add(sendTo: K, message: Message, binding: Binding<K>): void {
    this.entries.push({ sendTo, message, binding });
    this.maybe.add(sendTo);
  }

  /** May there be events here for `ksock`? (Exactly as kbus.c's flag: a look settles it.) */
  mayHaveFor(ksock: K): boolean {
    // Asked on every read: most of the time nobody has any.
    return this.maybe.size !== 0 && this.maybe.has(ksock);
  }

  /** kbus_listener_already_got_tragic_msg: looks back to the last real event. */
  hasLostMessageFor(ksock: K): boolean {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const entry = this.entries[i]!;
      if (entry.message.name === MessageNames.REPLIER_BIND_EVENT) return false;
      if (entry.sendTo === ksock) return true;
    }
    return false;
  }

  countFor(ksock: K): number {
    if (!this.mayHaveFor(ksock)) return 0;
    let count = 0;
    for (const entry of this.entries) if (entry.sendTo === ksock) count++;
    return count;
  }

  /** Removes and returns the first entry for `ksock`, clearing its flag if there is none. */
  takeFirstFor(ksock: K): SetAside<K> | undefined {
    const index = this.entries.findIndex((entry) => entry.sendTo === ksock);
    if (index < 0) {
      this.maybe.delete(ksock);
      this.settle();
      return undefined;
    }
    const [entry] = this.entries.splice(index, 1);
    this.settle();
    return entry;
  }

  forgetBinding(binding: Binding<K>): void {
    this.entries = this.entries.filter((entry) => entry.binding !== binding);
    this.settle();
  }

  forgetKsock(ksock: K): void {
    this.entries = this.entries.filter((entry) => entry.sendTo !== ksock);
    this.maybe.delete(ksock);
    this.settle();
  }

  private settle(): void {
    if (this.entries.length === 0) this.tragic = false;
  }
}
