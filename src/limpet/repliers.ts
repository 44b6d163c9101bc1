/**
 * Who is the replier for each name on the Limpet's own bus, learnt from
 * the bus's `$.KBUS.ReplierBindEvent` messages, which the Limpet reads
 * anyway (limpet.md section 3 step 4: REPORTREPLIERBINDS 1 first reports
 * every replier already bound, then each bind and unbind as it happens).
 * It answers REPLIER(name) for a request from the link (section 5.2 rule
 * 3) without a round trip to the daemon.
 *
 * REPLIER asks for the replier bound to exactly that name, so the table is
 * keyed by the name as bound, wildcards included, as the daemon's own is.
 * The events arrive in the order the daemon made them, and a request
 * reaches the link only through a proxy binding the peer made from an
 * event this Limpet read first: the table is never behind what the request
 * depends on. Should the daemon report `$.KBUS.UnbindEventsLost`, some
 * events were never queued for us and the table cannot be trusted: from
 * then on the Limpet asks the daemon again.
 */
import type { ReplierBindEvent } from '../wire/index.js';

export class BusRepliers {
  private readonly byName = new Map<string, number>();
  private lost = false;

  /** A genuine (SYNTHETIC) bind event read from the bus, this Limpet's own included. */
  event(event: ReplierBindEvent): void {
    if (this.lost) return;
    if (event.isBind) this.byName.set(event.name, event.binder);
    else if (this.byName.get(event.name) === event.binder) this.byName.delete(event.name);
  }

  /** `$.KBUS.UnbindEventsLost` was read: stop answering from the table. */
  eventsLost(): void {
    this.lost = true;
    this.byName.clear();
  }

  /** REPLIER(name) as the daemon answers it, or undefined if only the daemon can say. */
  replier(name: string): number | undefined {
    if (this.lost) return undefined;
    return this.byName.get(name) ?? 0;
  }
}
