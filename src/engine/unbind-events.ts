/**
 * The device's set-aside list of Replier Unbind Events (kbus.c
 * kbus_safe_report_unbinding and friends). When a closing replier's unbind
 * event cannot be delivered because a listener's queue is full, a copy is
 * kept here for each listener and moved into its queue as room appears.
 * Past the limit (maxUnsentUnbind) the list "goes tragic": listeners get
 * one `$.KBUS.UnbindEventsLost` message instead.
 */
import { type Message, MessageNames } from '../wire/index.js';
import type { Ksock } from './ksock.js';
import type { Binding } from './router.js';

interface SetAside {
  readonly sendTo: Ksock;
  readonly message: Message;
  readonly binding: Binding<Ksock>;
}

export class UnsentUnbindEvents {
  private entries: SetAside[] = [];
  /** Set when the list overflowed; cleared when it empties. */
  tragic = false;

  get length(): number {
    return this.entries.length;
  }

  add(sendTo: Ksock, message: Message, binding: Binding<Ksock>): void {
    this.entries.push({ sendTo, message, binding });
    sendTo.maybeGotUnsentUnbind = true;
  }

  /** kbus_listener_already_got_tragic_msg: looks back to the last real event. */
  hasLostMessageFor(ksock: Ksock): boolean {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const entry = this.entries[i]!;
      if (entry.message.name === MessageNames.REPLIER_BIND_EVENT) return false;
      if (entry.sendTo === ksock) return true;
    }
    return false;
  }

  countFor(ksock: Ksock): number {
    if (!ksock.maybeGotUnsentUnbind) return 0;
    let count = 0;
    for (const entry of this.entries) if (entry.sendTo === ksock) count++;
    return count;
  }

  /** Removes and returns the first entry for `ksock`, clearing its flag if there is none. */
  takeFirstFor(ksock: Ksock): SetAside | undefined {
    const index = this.entries.findIndex((entry) => entry.sendTo === ksock);
    if (index < 0) {
      ksock.maybeGotUnsentUnbind = false;
      this.settle();
      return undefined;
    }
    const [entry] = this.entries.splice(index, 1);
    this.settle();
    return entry;
  }

  forgetBinding(binding: Binding<Ksock>): void {
    this.entries = this.entries.filter((entry) => entry.binding !== binding);
    this.settle();
  }

  forgetKsock(ksock: Ksock): void {
    this.entries = this.entries.filter((entry) => entry.sendTo !== ksock);
    ksock.maybeGotUnsentUnbind = false;
    this.settle();
  }

  private settle(): void {
    if (this.entries.length === 0) this.tragic = false;
  }
}
