/**
 * What a device counts as messages pass, for monitoring (metrics.ts).
 * Plain integer fields bumped on the send path: no I/O, no allocation,
 * nothing looked up.
 */
export class DeviceCounters {
  /** Messages given an id and offered to their recipients (SEND, SENDMSG), status messages excluded. */
  sent = 0;
  /** Copies queued for a recipient (a message to three listeners counts three). */
  delivered = 0;
  /** Copies a listener missed because its queue was full (Kbus.txt "Queues filling up"). */
  missed = 0;
  /** Sends refused (EBUSY, EAGAIN, EADDRNOTAVAIL...), by errno name. */
  readonly refused = new Map<string, number>();
  /** Status messages KBUS generated, by name ($.KBUS.Replier.GoneAway...). */
  readonly status = new Map<string, number>();

  /** @internal A send failed with `code`: not on the path of a send that works. */
  refuse(code: string): void {
    this.refused.set(code, (this.refused.get(code) ?? 0) + 1);
  }

  /** @internal KBUS made a status message (not the path of an ordinary message). */
  generated(name: string): void {
    this.status.set(name, (this.status.get(name) ?? 0) + 1);
  }
}
